from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from mitmproxy import io as mitm_io

from dspscope.cli import main
from tests.addons import support
from tests.addons.cli.test_check import write_capture
from tests.helpers import eventually


def test_jsonl(tmp_path, capsys):
    flows = support.job_flows(images=1)
    capture = write_capture(tmp_path / "c.mitm", flows)
    assert main(["export", capture]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in records] == [f.id for f in flows]
    assert all(r["findings"] == [] for r in records)


def test_har_is_valid_and_carries_our_records(tmp_path):
    flows = support.job_flows(images=1)
    capture = write_capture(tmp_path / "c.mitm", flows)
    out = tmp_path / "c.har"
    assert main(["export", capture, "--format", "har", "-o", str(out)]) == 0
    har = json.loads(out.read_text())
    assert har["log"]["version"] == "1.2"
    entries = har["log"]["entries"]
    assert len(entries) == len(flows)
    assert entries[0]["request"]["method"] == "POST"
    assert entries[0]["_dspscope"]["operation"] == "CreatePostScanJob"
    # mitmproxy reads its HAR back.
    with open(out, "rb") as fh:
        assert len(list(mitm_io.FlowReader(fh).stream())) == len(flows)


def test_unreadable_capture_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.mitm"
    bad.write_bytes(b"nope")
    assert main(["export", str(bad)]) == 2
    assert "bad.mitm" in capsys.readouterr().err


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_exports_holding_scans_are_owner_only_and_redacted_ones_are_not(tmp_path):
    capture = write_capture(tmp_path / "c.mitm", support.job_flows(images=1))
    umask = os.umask(0o022)
    try:
        for fmt in ("jsonl", "har", "mitm"):
            plain, shared = tmp_path / f"plain.{fmt}", tmp_path / f"shared.{fmt}"
            assert main(["export", capture, "--format", fmt, "-o", str(plain)]) == 0
            assert main(["export", capture, "--format", fmt, "--redact", "-o", str(shared)]) == 0
            assert _mode(plain) == 0o600, fmt
            assert _mode(shared) == 0o644, fmt
    finally:
        os.umask(umask)
    assert not list(tmp_path.glob("*.part"))


def test_interrupted_export_leaves_nothing_under_the_output_name_and_says_so(tmp_path):
    """The capture comes through a pipe that stays open: the export is
    surely under way (its temporary file exists) when Ctrl-C comes."""
    flows = support.job_flows(images=2)
    source = tmp_path / "live.mitm"
    os.mkfifo(source)
    out = tmp_path / "out.jsonl"
    out.write_text("older export\n")
    export = subprocess.Popen([sys.executable, "-m", "dspscope", "export", str(source), "-o", str(out)],
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        with open(source, "wb") as fh:
            writer = mitm_io.FlowWriter(fh)
            for f in flows:
                writer.add(f)
            fh.flush()
            eventually(lambda: list(tmp_path.glob(".out.jsonl.*.part")), what="the export under way")
            export.send_signal(signal.SIGINT)
            _, err = export.communicate(timeout=30)
    finally:
        if export.poll() is None:
            export.kill()
    assert export.returncode == 130
    assert f"interrupted; nothing written to {out}" in err
    assert out.read_text() == "older export\n"
    assert not list(tmp_path.glob("*.part"))
