"""Rules in the real proxy: ``dspscope proxy --rules FILE`` as a process,
between the simulated scan server and either the simulated device or a
plain HTTP client (for what a device library would hide: a reset is
ECONNRESET, a close is a clean end of stream, a truncated body is short).

Each test checks what the device sees and what the capture records."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import http.client
import io
import json
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dspscope.sim.device import SimulatedDevice
from dspscope.sim.results import JobResult
from dspscope.sim.server import ScanServer
from dspscope.wsdsp import AttachmentData, Message, build, decode, encode
from tests.addons.test_e2e import device_options, read_flows, start_proxy
from tests.helpers import Process, eventually_async

pytestmark = pytest.mark.e2e

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
USER = "S-1-5-21-1004336348-1177238915-682003330-512"
PSP = "9e3b5a6c-1d2f-4b8a-8c7e-5f0a1b2c3d4e"


def write_rules(home: Path, text: str, name: str = "dspscope.rules.yaml") -> str:
    path = home / name
    path.write_text(text)
    return str(path)


@contextlib.asynccontextmanager
async def proxied(home: Path, rules: str, *proxy_args: str, tls: bool = False,
                  **server_args: Any) -> AsyncIterator[tuple[ScanServer, Process, int]]:
    """The simulated server and, in front of it, ``dspscope proxy --rules``
    with ``rules`` (written to HOME/rules.yaml), capturing to HOME/cap.*."""
    path = write_rules(home, rules)
    async with ScanServer(port=0, tls_on=tls, config_dir=home, **server_args) as server:
        proxy, port = await start_proxy(home, server, "--rules", path, *proxy_args)
        try:
            yield server, proxy, port
        finally:
            proxy.kill()


def records(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / "cap.jsonl").read_text().splitlines()]


def applied(home: Path) -> list[tuple[str | None, str]]:
    """(operation, rule name) for every rule the capture says was applied."""
    return [(r["operation"], rule["name"]) for r in records(home) for rule in r["rules"]]


async def run_device(home: Path, port: int, scheme: str = "http", **kw: Any) -> list[JobResult]:
    timeouts = {k: kw.pop(k) for k in ("event_timeout", "request_timeout") if k in kw}
    options = device_options(home, scheme, port, **kw)
    for key, value in timeouts.items():
        setattr(options, key, value)
    return await SimulatedDevice(options).run()


class _Bytes:
    """Enough of a socket for http.client.HTTPResponse to parse bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def unread(port: int) -> list[int]:
    """Bytes waiting to be read on each established connection the proxy
    accepted on ``port`` (Linux: /proc/net/tcp, receive queue)."""
    queues = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, _, state, queue = line.split()[1:5]
        if state == "01" and int(local.split(":")[1], 16) == port:
            queues.append(int(queue.split(":")[1], 16))
    return queues


class Raw:
    """A bare HTTP(S) client that shows what the socket saw.  TLS runs over
    memory buffers, so the TCP reads are plain ``recv`` calls: a reset is
    ConnectionResetError even under TLS (Python's ssl module reports a reset
    as an unexpected EOF).  Blocking: ``post`` runs it in a thread."""

    def __init__(self, home: Path, port: int, server: ScanServer) -> None:
        self.port = port
        self.endpoint = server.endpoint
        self.path = urlsplit(server.endpoint).path
        self.context = None
        self.sent = threading.Event()  # the last request is all handed to the kernel
        if server.tls_on:
            self.context = ssl.create_default_context(cafile=str(home / "mitmproxy" / "mitmproxy-ca-cert.pem"))

    def _exchange(self, request: bytes, timeout: float) -> bytes:
        """Send ``request``, return every byte until the proxy closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            if self.context is None:
                sock.sendall(request)
                self.sent.set()
                out = bytearray()
                while chunk := sock.recv(65536):
                    out += chunk
                return bytes(out)
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = self.context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")

            def flush() -> None:
                if pending := outgoing.read():
                    sock.sendall(pending)

            def feed() -> bool:
                data = sock.recv(65536)  # a reset raises here
                if data:
                    incoming.write(data)
                else:
                    incoming.write_eof()
                return bool(data)

            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    flush()
                    if not feed():
                        raise ConnectionAbortedError("EOF during the TLS handshake") from None
            tls.write(request)
            flush()
            self.sent.set()
            out = bytearray()
            while True:
                try:
                    out += tls.read(65536)
                except ssl.SSLWantReadError:
                    if not feed():
                        return bytes(out)
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return bytes(out)

    def _post(self, message: Message, attachments: tuple[AttachmentData, ...], timeout: float
              ) -> tuple[int, dict[str, str], bytes]:
        encoded = encode(message, attachments)
        head = (f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nConnection: close\r\n"
                f"Content-Type: {encoded.content_type}\r\nContent-Length: {len(encoded.content)}\r\n\r\n")
        raw = self._exchange(head.encode() + encoded.content, timeout)
        response = http.client.HTTPResponse(_Bytes(raw))  # type: ignore[arg-type]
        response.begin()  # RemoteDisconnected when nothing came back
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    async def post(self, message: Message, attachments: tuple[AttachmentData, ...] = (),
                   timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
        return await asyncio.to_thread(self._post, message, attachments, timeout)

    async def failure(self, message: Message, attachments: tuple[AttachmentData, ...] = (),
                      timeout: float = 30) -> BaseException:
        try:
            reply = await self.post(message, attachments, timeout)
        except Exception as exc:  # noqa: BLE001 - the exception is the result
            return exc
        raise AssertionError(f"expected the exchange to fail, got {reply[0]}")

    def create(self) -> Message:
        return build.create_post_scan_job(to=self.endpoint, user=USER, psp_id=PSP, document_root="Raw")

    def image(self, token: str, n: int = 1) -> tuple[Message, tuple[AttachmentData, ...]]:
        cid = f"page{n}@raw"
        return (build.send_image(to=self.endpoint, token=token, document_id=n, format="png", content_id=cid),
                (AttachmentData(cid, PNG),))

    async def token(self) -> str:
        status, _, body = await self.post(self.create())
        reply = decode(body, "application/soap+xml")
        assert status == 200 and reply.job_token, (status, body[:300])
        return reply.job_token


# ---------------------------------------------------------------- faults


async def test_device_retries_a_busy_server_and_the_capture_records_it(tmp_path: Path) -> None:
    async with proxied(tmp_path, """\
seed: 1
rules:
  - name: busy-on-second-image
    match: {operation: SendImage, direction: request, nth_in_job: 2}
    action: {fault: ServerErrorTemporaryError}
  - name: first-create-refused
    description: the server makes the job, the device hears it was busy
    match: {operation: CreatePostScanJob, nth: 1}
    action: {fault: ServerErrorTemporaryError}
""") as (server, proxy, port):
        results = await run_device(tmp_path, port, jobs=2, images=3)
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    first, second = results
    assert [r.error for r in results] == [None, None] and all(r.ok for r in results)
    assert first.faults == ["CreatePostScanJob: ServerErrorTemporaryError", "SendImage: ServerErrorTemporaryError"]
    assert second.faults == ["SendImage: ServerErrorTemporaryError"]
    assert (first.retries, second.retries) == (2, 1)
    assert first.problems == [] and second.problems == []  # RelatesTo, HTTP 500: as the spec says
    lines = [line for line in proxy.stdout.splitlines() if "rules: " in line]  # the headless lines
    assert len(lines) == 3 and "CreatePostScanJob" in lines[0] and lines[0].endswith("rules: first-create-refused")
    assert sorted(applied(tmp_path)) == [("CreatePostScanJob", "first-create-refused"),
                                         ("SendImage", "busy-on-second-image"),
                                         ("SendImage", "busy-on-second-image")]
    refused = next(f for f in read_flows(tmp_path / "cap.mitm")
                   if f.metadata["dspscope"]["rules"] and f.metadata["dspscope"]["operation"] == "CreatePostScanJob")
    meta = refused.metadata["dspscope"]
    assert meta["response"]["fault"]["subcode"] == "ServerErrorTemporaryError" and refused.response.status_code == 500
    assert b"CreatePostScanJobResponse" in meta["original"]["response"]  # what the server really said
    assert meta["rules"] == [{"name": "first-create-refused", "action": "fault", "side": "response",
                              "detail": "fault ServerErrorTemporaryError"}]


async def test_delays_and_addressing_damage_reach_the_device(tmp_path: Path) -> None:
    async with proxied(tmp_path, """\
seed: 2
rules:
  - name: slow-end
    match: {operation: EndPostScanJob}
    action: {delay: 1.2}
  - name: wrong-relates-to
    match: {operation: SendImage, nth: 2}
    action: {addressing: {relates_to: wrong}}
""") as (server, proxy, port):
        (result,) = await run_device(tmp_path, port, jobs=1, images=2)
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    assert result.ok, result.error
    # side by side: the delayed exchange against an undelayed one of the same job
    assert result.timings["end"] >= 1200 > result.timings["create"]
    assert len(result.problems) == 1 and "RelatesTo" in result.problems[0]
    assert sorted(applied(tmp_path)) == [("EndPostScanJob", "slow-end"), ("SendImage", "wrong-relates-to")]
    # the recorded latency is what the device waited, the rule's share beside it
    [end] = [r for r in records(tmp_path) if r["operation"] == "EndPostScanJob"]
    assert 1200 <= end["duration_ms"] <= result.timings["end"]
    assert end["rule_delay_ms"] == 1200
    assert all(r["rule_delay_ms"] is None for r in records(tmp_path) if r["operation"] != "EndPostScanJob")
    [line] = [line for line in proxy.stdout.splitlines() if "EndPostScanJob" in line]
    assert int(line.split("ms")[0].split()[-1]) >= 1200 and "rules: slow-end (held 1200ms of it)" in line
    check = subprocess.run([sys.executable, "-m", "dspscope", "check", str(tmp_path / "cap.mitm"), "--json"],
                           capture_output=True, text=True, timeout=120)
    [job] = json.loads(check.stdout)["jobs"]
    assert job["slowest_operation"] == "EndPostScanJob" and job["slowest_ms"] >= 1200
    assert job["slowest_rule_delay_ms"] == 1200
    # and the viewer shows both, from the capture
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.sources import CaptureSource
    from tests.viewer.conftest import SIZE
    from tests.viewer.pilot import screen_text

    app = DspscopeApp(CaptureSource([tmp_path / "cap.mitm"]))
    async with app.run_test(size=SIZE) as pilot:
        await eventually_async(lambda: any(r.operation == "EndPostScanJob" for r in app.session.store.rows),
                               what="the capture loaded")
        await eventually_async(lambda: "⚑ slow-end held 1.20s" in screen_text(pilot),
                               what="the rule's share on screen")
        row = next(r for r in app.session.store.rows if r.operation == "EndPostScanJob")
        assert row.latency is not None and row.latency >= 1200 and row.rule_delay == 1200


# ------------------------------------------------------------- transport


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_reset_close_and_truncate_as_the_socket_sees_them(tmp_path: Path, tls: bool) -> None:
    async with proxied(tmp_path, """\
seed: 3
rules:
  - name: reset-images
    match: {operation: SendImage, direction: request}
    action: {transport: reset}
  - name: close-on-end
    match: {operation: EndPostScanJob}
    action: {transport: close}
  - name: cut-elements
    match: {operation: GetPostScanJobElements}
    action: {transport: {truncate: 60}}
""", tls=tls) as (server, proxy, port):
        raw = Raw(tmp_path, port, server)
        token = await raw.token()

        reset = await raw.failure(*raw.image(token))
        assert isinstance(reset, ConnectionResetError) and reset.errno == errno.ECONNRESET, repr(reset)

        closed = await raw.failure(build.job_request("EndPostScanJob", to=raw.endpoint, token=token))
        assert isinstance(closed, http.client.RemoteDisconnected), repr(closed)  # FIN, not RST

        cut = await raw.failure(build.get_elements(to=raw.endpoint, token=token))
        assert isinstance(cut, http.client.IncompleteRead), repr(cut)
        assert len(cut.partial) == 60 and cut.expected is not None and cut.expected > 0

        (job,) = await run_device(tmp_path, port, server.scheme, jobs=1, images=1)
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    assert not job.ok and job.error is not None and "reset by peer" in job.error
    assert server.exchanges >= 1 and "Traceback" not in proxy.stderr
    seen = applied(tmp_path)
    assert ("SendImage", "reset-images") in seen and ("EndPostScanJob", "close-on-end") in seen
    cut_flow = next(r for r in records(tmp_path) if r["operation"] == "GetPostScanJobElements")
    assert cut_flow["rules"][0]["name"] == "cut-elements"


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_throttle_slows_the_reply_body(tmp_path: Path, tls: bool) -> None:
    rate = 1500
    async with proxied(tmp_path, f"""\
seed: 4
rules:
  - name: trickle
    match: {{operation: GetPostScanJobElements}}
    action: {{transport: {{throttle: {rate}}}}}
""", tls=tls) as (server, proxy, port):
        raw = Raw(tmp_path, port, server)
        token = await raw.token()
        began = time.monotonic()
        plain = await raw.post(build.job_request("CancelPostScanJob", to=raw.endpoint, token=token))
        fast = time.monotonic() - began
        began = time.monotonic()
        status, headers, body = await raw.post(build.get_elements(to=raw.endpoint, token=token))
        slow = time.monotonic() - began
        # the device keeps its connection open: the throttled replies, then everything after them, arrive
        (job,) = await run_device(tmp_path, port, server.scheme, jobs=1, images=1)
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    assert plain[0] == 200 and status == 200
    assert job.ok, job.error
    assert applied(tmp_path).count(("GetPostScanJobElements", "trickle")) >= 2
    assert decode(body, headers["content-type"]).operation == "GetPostScanJobElements"
    assert len(body) > rate  # so the pacing takes more than a second
    assert slow >= len(body) / rate * 0.9 and slow > fast


async def test_hang_never_answers_and_the_proxy_still_stops_cleanly(tmp_path: Path) -> None:
    async with proxied(tmp_path, """\
seed: 5
rules:
  - name: black-hole
    match: {operation: CancelPostScanJob, direction: request}
    action: {transport: hang}
""") as (server, proxy, port):
        raw = Raw(tmp_path, port, server)
        token = await raw.token()
        waiting = await raw.failure(build.job_request("CancelPostScanJob", to=raw.endpoint, token=token),
                                    timeout=1.5)
        assert isinstance(waiting, TimeoutError | socket.timeout), repr(waiting)
        hung = asyncio.create_task(raw.failure(
            build.job_request("CancelPostScanJob", to=raw.endpoint, token=token), timeout=60))
        await eventually_async(lambda: raw.sent.is_set() and unread(port) == [0], 30,
                               "the hung request sent and read by the proxy")
        assert await proxy.stop_async(signal.SIGTERM) == 0, proxy.stderr
        ended = await hung
    assert isinstance(ended, ConnectionError | http.client.HTTPException), repr(ended)  # freed at shutdown
    assert server.exchanges == 1  # the CreatePostScanJob; no CancelPostScanJob ever reached the server
    assert [name for op, name in applied(tmp_path) if op == "CancelPostScanJob"] == ["black-hole", "black-hole"]


# ------------------------------------------------------- rewrite, events


async def test_rewrites_reach_the_server_and_images_stay_intact(tmp_path: Path) -> None:
    store = tmp_path / "store"
    async with proxied(tmp_path, """\
seed: 6
rules:
  - name: rename-documents
    match: {operation: CreatePostScanJob, direction: request}
    action:
      rewrite:
        - {xpath: //psp:DocumentRootName, text: Rewritten}
  - name: vendor-extension
    match: {operation: SendImage, direction: request}
    action:
      rewrite:
        - xpath: //dsp:DocumentDescription
          insert: '<v:Tray xmlns:v="urn:example:vendor">adf</v:Tray>'
""", tls=True, store=store) as (server, proxy, port):
        device = SimulatedDevice(device_options(tmp_path, "https", port, jobs=1, images=2))
        (result,) = await device.run()
        await server.idle()
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    assert result.ok, result.error
    (folder,) = [p for p in store.iterdir() if not p.name.startswith(".")]
    stored = sorted(folder.iterdir())
    assert [p.name for p in stored] == ["Rewritten-1.png", "Rewritten-2.png"]
    assert all(p.read_bytes() == device._image for p in stored)  # MTOM parts intact
    sends = [f for f in read_flows(tmp_path / "cap.mitm") if f.metadata["dspscope"]["operation"] == "SendImage"]
    assert len(sends) == 2
    for flow in sends:
        meta = flow.metadata["dspscope"]
        assert meta["request"]["fields"]["SendImageRequest"]["DocumentDescription"]["Tray"] == "adf"
        assert b"Tray" not in meta["original"]["request"]
        assert [a["sha256"] for a in meta["request"]["attachments"]] == [
            hashlib.sha256(device._image).hexdigest()]


async def test_a_dropped_end_event_never_reaches_the_device(tmp_path: Path) -> None:
    async with proxied(tmp_path, """\
seed: 7
rules:
  - name: lost-ending
    match: {operation: PostScanJobEndStateEvent}
    action: {drop: true}
""") as (server, proxy, port):
        (result,) = await run_device(tmp_path, port, jobs=1, images=1, subscribe=True, event_timeout=3)
        await server.idle()
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
        delivered = server.pusher.delivered
    assert not result.ok and result.error == "no PostScanJobEndStateEvent within 3 s"
    events = [r for r in records(tmp_path) if r["kind"] == "event"]
    dropped = [r for r in events if r["operation"] == "PostScanJobEndStateEvent"]
    assert len(dropped) == 1 and dropped[0]["status"] == 202
    assert dropped[0]["rules"] == [{"name": "lost-ending", "action": "drop", "side": "event", "detail": "drop"}]
    assert delivered == len(events)  # the server thinks every event arrived


# -------------------------------------------------------------- seeds


async def rule_hits(home: Path, seed: int) -> list[bool]:
    """Which of twelve SendImages a probability rule picked, in order."""
    async with proxied(home, f"""\
seed: {seed}
rules:
  - name: coin
    match: {{operation: SendImage, direction: request, probability: 0.5}}
    action: {{delay: 0}}
""", "--quiet") as (server, proxy, port):
        (result,) = await run_device(home, port, jobs=1, images=12)
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    assert result.ok, result.error
    sends = [r for r in records(home) if r["operation"] == "SendImage"]
    sends.sort(key=lambda r: r["request"]["fields"]["SendImageRequest"]["DocumentDescription"]["DocumentId"])
    return [bool(r["rules"]) for r in sends]


async def test_probability_is_replayed_by_the_seed(tmp_path: Path) -> None:
    runs = []
    for n, seed in enumerate((42, 42, 43)):
        home = tmp_path / f"run{n}"
        home.mkdir()
        runs.append(await rule_hits(home, seed))
    assert len(runs[0]) == 12 and 0 < sum(runs[0]) < 12
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


# ------------------------------------------------------------- reloading


async def test_rule_files_reload_and_a_bad_edit_keeps_the_last_good_rules(tmp_path: Path) -> None:
    path = tmp_path / "dspscope.rules.yaml"
    async with proxied(tmp_path, """\
rules:
  - name: refuse
    match: {operation: CreatePostScanJob, direction: request}
    action: {fault: InvalidArgs}
""") as (server, proxy, port):
        raw = Raw(tmp_path, port, server)
        assert (await raw.post(raw.create()))[0] == 400
        path.write_text("rules:\n  - name: refuse\n    match: {operation: Nope}\n    action: {delay: 1}\n")

        async def complained() -> bool:
            return "operation: unknown name 'Nope'" in proxy.stderr

        await eventually_async(complained, 15, "the proxy reports the bad file", interval=0.2)
        assert f"{path}:3: rule 'refuse'" in proxy.stderr and "keeping its last good rules" in proxy.stderr
        assert (await raw.post(raw.create()))[0] == 400
        path.write_text("rules:\n  - name: busy\n    match: {operation: CreatePostScanJob, direction: request}\n"
                        "    action: {status: {code: 503, headers: {Retry-After: 1}}}\n")

        async def busy() -> bool:
            return (await raw.post(raw.create()))[0] == 503

        await eventually_async(busy, 15, "the new rule answers", interval=0.2)
        # the fix is acknowledged where the error was shown
        await proxy.wait_for_async(re.escape(f"rules reloaded: 1 rule(s) from {path}"))
        assert proxy.stderr.index("keeping its last good rules") < proxy.stderr.index("rules reloaded")
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    names = [name for _, name in applied(tmp_path)]
    assert names[:2] == ["refuse", "refuse"] and names[-1] == "busy"


async def test_a_lost_answer_is_resent_and_the_job_completes(tmp_path: Path) -> None:
    """A fault on the response: the server stored the page, the device never
    heard so.  It sends the same request again; the simulated server answers
    as before, keeps one copy, and the capture says a resend happened."""
    async with proxied(tmp_path, """\
rules:
  - name: answer-lost
    match: {operation: SendImage, nth_in_job: 2}
    action: {fault: ServerErrorTemporaryError}
""", store=tmp_path / "scans") as (server, proxy, port):
        [result] = await run_device(tmp_path, port, jobs=1, images=3, subscribe=True)
        await server.idle()
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
        job = server.jobs.jobs[result.token]
    assert result.ok and result.final_state == "Completed", result.error
    assert result.faults == ["SendImage: ServerErrorTemporaryError"] and result.retries == 1
    assert (result.images_sent, result.images_reported) == (3, 3)
    assert [d.document_id for d in job.documents] == [1, 2, 3] and server.resends == 1
    assert len(list((tmp_path / "scans").rglob("*.png"))) == 3  # one file per page
    sends = [r for r in records(tmp_path) if r["operation"] == "SendImage"]
    assert len(sends) == 4
    lost, resent = sends[1], sends[2]
    assert lost["rules"][0]["name"] == "answer-lost" and lost["status"] == 500
    assert resent["request"]["message_id"] == lost["request"]["message_id"]
    assert resent["status"] == 200 and [f["code"] for f in resent["findings"]] == ["job.resend"]
    assert resent["findings"][0]["severity"] == "info"
    check = [f["code"] for r in records(tmp_path) for f in r["findings"] if f["severity"] != "info"]
    assert check == []


async def test_a_response_rule_matches_on_the_request(tmp_path: Path) -> None:
    """Refuse one user's CreatePostScanJob in the server's answer: the user
    is only in the request, so the response rule tests it with request_xpath."""
    other = USER[:-3] + "999"
    async with proxied(tmp_path, f"""\
rules:
  - name: refuse-user
    match:
      operation: CreatePostScanJob
      request_xpath: "//dsp:UserIdentifier = '{USER}'"
    action: {{fault: InvalidArgs}}
""") as (server, proxy, port):
        raw = Raw(tmp_path, port, server)
        status, _, body = await raw.post(raw.create())
        assert status == 400 and b"InvalidArgs" in body
        someone = build.create_post_scan_job(to=raw.endpoint, user=other, psp_id=PSP, document_root="Raw")
        status, _, body = await raw.post(someone)
        assert status == 200 and b"CreatePostScanJobResponse" in body
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
        assert len(server.jobs.jobs) == 2  # the server made both jobs: the answer was changed
    assert applied(tmp_path) == [("CreatePostScanJob", "refuse-user")]
    [refused] = [r for r in records(tmp_path) if r["rules"]]
    assert refused["rules"][0]["side"] == "response"
    assert refused["request"]["fields"]["CreatePostScanJobRequest"]["UserIdentifier"] == USER
