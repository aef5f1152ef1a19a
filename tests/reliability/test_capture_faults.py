"""The proxy's own files under stress: a disk that fills up while capturing,
and ``kill -9`` in the middle of a busy capture.

Traffic must never notice; the capture must read back with stock
mitmproxy's FlowReader up to the last complete exchange, and every line of
the JSONL must be JSON.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import eventually
from tests.reliability import corpus
from tests.reliability.support import Proxy, Upstream, count, post, read_flows_tolerant

pytestmark = pytest.mark.e2e

BODY = b"<a>" + b"x" * 20_000 + b"</a>"


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at ``where``; skips the test where mounting is not allowed."""
    where.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                               str(where)], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("cannot run mount")
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the /dev/full test still runs")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def _send(proxy: Proxy, upstream: Upstream, first: int, n: int) -> None:
    for i in range(first, first + n):
        reply = post(proxy.port, BODY, "text/xml", f"d{i}")
        assert reply.status == 200 and reply.body == BODY, reply
        assert len(upstream.by_tag(f"d{i}")) == 1
    count("exchanges while the capture disk was full or failing", n)


def _missing(stderr: str, path: Path) -> int:
    found = re.findall(rf"writing {re.escape(str(path))} again; (\d+) exchange", stderr)
    return sum(int(n) for n in found)


def test_a_disk_filling_up_costs_records_not_traffic(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "256k") as disk, Upstream() as upstream:
        save, jsonl = disk / "cap.mitm", disk / "cap.jsonl"
        proxy = Proxy(tmp_path, upstream.url, "--save", str(save), "--jsonl", str(jsonl),
                      save=False, jsonl=False).started()
        try:
            _send(proxy, upstream, 0, 30)  # 600 KB of bodies for 256 KB of disk
            assert "No space left on device" in proxy.stderr
            subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True, timeout=30)
            _send(proxy, upstream, 30, 10)
            assert proxy.stop() == 0
        finally:
            proxy.kill()
        stderr = proxy.stderr
        # Once per file that met the full disk (the capture, its index, the
        # JSONL file: which of them do depends on who wrote last), not per exchange.
        full = re.findall(r"writing (\S+) failed.*No space left on device", stderr)
        assert str(save) in full and len(full) == len(set(full)), stderr
        assert "traffic goes on unrecorded" in stderr and "Traceback" not in stderr
        # Both files read to their end, with every exchange that was not
        # reported missing; the line per exchange never stopped.
        flows, broken = read_flows_tolerant(save)
        assert broken is None, broken
        records = [json.loads(line) for line in jsonl.read_text().splitlines()]
        assert len(flows) + _missing(stderr, save) == 40
        assert len(records) + _missing(stderr, jsonl) == 40
        assert records and flows and len(flows) < 40
        assert {r["url"].rpartition("=")[2] for r in records} <= {f"d{i}" for i in range(40)}
        assert len(proxy.stdout.splitlines()) == 40


def test_a_file_that_refuses_every_write(tmp_path: Path) -> None:
    """/dev/full (works without root): every write fails with ENOSPC."""
    with Upstream() as upstream:
        proxy = Proxy(tmp_path, upstream.url, "--save", "/dev/full", "--jsonl", "/dev/full",
                      save=False, jsonl=False).started()
        try:
            _send(proxy, upstream, 0, 20)
            assert proxy.alive
            assert proxy.stop() == 0
        finally:
            proxy.kill()
    assert proxy.stderr.count("writing /dev/full failed") == 2, proxy.stderr
    assert "No space left on device" in proxy.stderr and "Traceback" not in proxy.stderr
    assert len(proxy.stdout.splitlines()) == 20


class Traffic:
    """Devices posting as fast as they can until stopped; remembers, per
    device and in order, which exchanges were answered in full."""

    def __init__(self, proxy: Proxy, threads: int = 4) -> None:
        self.proxy = proxy
        self.answered: list[str] = []
        self.per_device: list[list[str]] = [[] for _ in range(threads)]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True)
                         for n in range(threads)]
        message, attachments = corpus.real_messages()["send-image"]
        from dspscope.wsdsp import AttachmentData, encode

        big = (AttachmentData(attachments[0].content_id, b"\x89PNG" + b"\0" * 1_000_000, "image/png"),)
        self.bodies = [(BODY, "text/xml"), (encode(message, big).content, encode(message, big).content_type)]

    def _run(self, n: int) -> None:
        i = 0
        while not self._stop.is_set():
            tag = f"k{n}-{i}"
            body, ctype = self.bodies[i % 2]
            i += 1
            try:
                reply = post(self.proxy.port, body, ctype, tag)
            except OSError:
                continue
            if reply.status == 200 and reply.body == body:
                with self._lock:
                    self.answered.append(tag)
                    self.per_device[n].append(tag)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


@pytest.mark.parametrize("after", [25, 80])
def test_kill_9_in_the_middle_of_a_busy_capture(tmp_path: Path, after: int) -> None:
    with Upstream() as upstream:
        proxy = Proxy(tmp_path, upstream.url, "--quiet").started()
        try:
            with Traffic(proxy) as traffic:
                eventually(lambda: len(traffic.answered) >= after, what=f"{after} exchanges")
                proxy.proc.send_signal(signal.SIGKILL)
                proxy.proc.wait(30)
                answered = [list(done) for done in traffic.per_device]
        finally:
            proxy.kill()
    count("kill -9 of a capturing proxy")
    flows, torn = read_flows_tolerant(proxy.capture)
    text = proxy.records_path.read_text()
    records = [json.loads(line) for line in text.splitlines()]  # no torn line anywhere
    count("exchanges read back after kill -9", len(flows))
    # What was read is whole: a request and the answer the device got.
    assert all(f.response is not None and f.response.status_code == 200 for f in flows)
    # Large records are written beside the event loop, so the last answers
    # may not be on disk yet; but what is lost is a tail, never a hole:
    # each device's exchanges on disk are the first of those it saw answered.
    for tags in ({f.request.query.get("tag") for f in flows},
                 {r["url"].rpartition("=")[2] for r in records}):
        for done in answered:
            kept = [tag for tag in done if tag in tags]
            assert kept == done[: len(kept)], (done, kept)
        assert sum(len(done) for done in answered) - len(tags) <= 32, "more than the last few lost"
    assert torn is None or flows
