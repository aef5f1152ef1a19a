"""A real client nobody here wrote: sane-airscan (through ``scanimage``)
scans from ``dspscope sim scanner`` through ``dspscope proxy``, and what it
sent and received comes out of the capture decoded as WS-Scan.

The sane-airscan tests need the Debian packages sane-airscan and sane-utils
(.ci/run installs them) and are skipped with that reason where they are
missing; the events test needs neither.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mitmproxy import io as mitm_io
from PIL import Image

from dspscope.wsdsp import decode
from tests.helpers import Process, free_port

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "airscan:w0:dspscope"
#: 75 dpi over the whole platen (8.5 x 11 inches): the size the scanner advertises.
PAGE = (8500 * 75 // 1000, 11000 * 75 // 1000)


def _airscan_missing() -> str | None:
    if shutil.which("scanimage") is None:
        return "scanimage not installed (Debian package sane-utils)"
    if not glob.glob("/usr/lib/*/sane/libsane-airscan.so*") + glob.glob(
        "/usr/lib/sane/libsane-airscan.so*"
    ):
        return "the airscan SANE backend is not installed (Debian package sane-airscan)"
    return None


pytestmark = pytest.mark.e2e
needs_airscan = pytest.mark.skipif(bool(_airscan_missing()), reason=_airscan_missing() or "")


@pytest.fixture
def scanner(processes):
    """The port of a ``dspscope sim scanner`` process (plain HTTP)."""
    proc = processes.dspscope("sim", "scanner", "--port", "0", "--no-tls", name="scanner",
                              env={"DSPSCOPE_HOME": str(processes.workdir)})
    return int(proc.wait_for(r"listening on http://127\.0\.0\.1:(\d+)/WSDScan").group(1))


def _proxy(processes, scanner_port: int, name: str, *extra: str) -> tuple[Process, int]:
    home = processes.workdir
    port = free_port()
    proc = processes.dspscope(
        "proxy", "--upstream", f"http://127.0.0.1:{scanner_port}", "--listen-port", str(port),
        "--events-port", str(free_port()), "--save", str(home / f"{name}.mitm"),
        "--jsonl", str(home / f"{name}.jsonl"), *extra, name=name,
        env={"DSPSCOPE_HOME": str(home)})
    proc.wait_for("listening on")
    return proc, port


def _scanimage(home: Path, proxy_port: int, out: Path) -> subprocess.CompletedProcess[str]:
    conf = home / "sane"
    conf.mkdir(exist_ok=True)
    (conf / "dll.conf").write_text("airscan\n")
    (conf / "airscan.conf").write_text(
        "[devices]\n"
        f'"dspscope" = http://127.0.0.1:{proxy_port}/WSDScan, WSD\n'
        "[options]\n"
        "discovery = disable\n"
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["SANE_CONFIG_DIR"] = str(conf)
    return subprocess.run(
        ["scanimage", "-d", DEVICE, "--resolution", "75", "--mode", "Gray", "--format", "png",
         "-o", str(out)],
        env=env, capture_output=True, text=True, timeout=120,
    )


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@needs_airscan
def test_sane_airscan_scans_a_page_through_the_proxy(tmp_path, processes, scanner):
    proxy, port = _proxy(processes, scanner, "cap")
    out = tmp_path / "page.png"
    done = _scanimage(tmp_path, port, out)
    proxy.stop(signal.SIGINT)  # the capture is complete once the proxy has exited
    assert done.returncode == 0, done.stderr
    assert re.search(r"WS-Scan job \d+ \(.+\) from 127\.0\.0\.1: Completed, 1 image",
                     proxy.stdout + proxy.stderr), proxy.output()

    with Image.open(out) as page:
        assert page.size == PAGE
        assert page.mode == "L"
        pixels = page.tobytes()

    records = _records(tmp_path / "cap.jsonl")
    operations = [r["operation"] for r in records]
    assert {"GetScannerElements", "CreateScanJob", "RetrieveImage"} <= set(operations)
    assert operations.index("CreateScanJob") < operations.index("RetrieveImage")
    for record in records:
        for side in ("request", "response"):
            message = record[side]
            assert message["protocol"] == "ws-scan", (record["operation"], side)
            assert message["findings"] == [], (record["operation"], side, message["findings"])
    create = records[operations.index("CreateScanJob")]
    token = create["response"]["fields"]["CreateScanJobResponse"]["JobToken"]
    retrieve = records[operations.index("RetrieveImage")]
    assert retrieve["request"]["fields"]["RetrieveImageRequest"]["JobToken"] == token
    assert retrieve["job_token"] == create["job_token"]
    [attachment] = retrieve["response"]["attachments"]
    assert attachment["format"] == "png" and attachment["referenced"]

    # The hash in the record is the hash of the image part the client got,
    # and that image is the page scanimage wrote.
    with open(tmp_path / "cap.mitm", "rb") as fh:
        flows = list(mitm_io.FlowReader(fh).stream())
    image_flow = next(f for f in flows if b"RetrieveImageRequest" in f.request.content)
    body = image_flow.response.content
    decoded = decode(body, image_flow.response.headers.get("content-type"))
    data = bytes(decoded.attachments[0].data(body))
    assert hashlib.sha256(data).hexdigest() == attachment["sha256"]
    with Image.open(io.BytesIO(data)) as sent:
        assert sent.convert("L").tobytes() == pixels

    check = subprocess.run([sys.executable, "-m", "dspscope", "check", "--no-progress",
                            str(tmp_path / "cap.mitm")], capture_output=True, text=True,
                           timeout=120, cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    assert " 0 error(s)" in check.stdout
    # The job is followed from CreateScanJob to its one platen page.
    assert re.search(r"WS-Scan job \d+ \([0-9a-f-]{36}\) from 127\.0\.0\.1: Completed, 1 image",
                     check.stdout), check.stdout

    # Replay: the recorded scanner answers sane-airscan again, page and all.
    replay_port = free_port()
    replay = processes.dspscope("replay", "server", str(tmp_path / "cap.mitm"), "--no-tls",
                                "--listen-port", str(replay_port), name="replay")
    replay.wait_for("listening on")
    again = tmp_path / "again.png"
    done = _scanimage(tmp_path, replay_port, again)
    assert done.returncode == 0, done.stderr + replay.output()
    with Image.open(again) as page:
        assert page.tobytes() == pixels


@needs_airscan
def test_what_sane_airscan_does_when_retrieve_image_faults(tmp_path, processes, scanner):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: retrieve-fails\n"
        "    match: {operation: RetrieveImage}\n"
        "    action: {fault: ServerErrorInternalError}\n"
    )
    proxy, port = _proxy(processes, scanner, "faulted", "--rules", str(rules))
    out = tmp_path / "page.png"
    done = _scanimage(tmp_path, port, out)
    proxy.stop(signal.SIGINT)

    # What sane-airscan 0.99 does: no retry and no CancelJob; it asks the
    # scanner for its status (GetScannerElements: ScannerStatus), then gives
    # up with SANE_STATUS_IO_ERROR (scanimage exits 9) and writes no page.
    assert done.returncode == 9, (done.returncode, done.stderr)
    assert "Error during device I/O" in done.stderr
    assert not out.exists() or out.stat().st_size == 0

    records = _records(tmp_path / "faulted.jsonl")
    operations = [r["operation"] for r in records]
    at = operations.index("RetrieveImage")
    assert operations.count("RetrieveImage") == 1
    assert "CancelJob" not in operations
    fault = records[at]["response"]
    assert records[at]["status"] == 500
    assert fault["kind"] == "fault" and fault["protocol"] == "ws-scan"
    assert fault["fault"]["subcode"] == "ServerErrorInternalError"
    assert fault["findings"] == []
    status_query = records[at + 1]
    assert status_query["operation"] == "GetScannerElements"
    names = status_query["request"]["fields"]["GetScannerElementsRequest"]["RequestedElements"]
    assert names["Name"] == ["wscn:ScannerStatus"]


# ------------------------------------------------ events, without sane-airscan


async def test_scan_events_come_through_the_proxy_into_the_job(tmp_path, processes):
    """A client that subscribes (as Windows does) gets the scanner's job
    events through the proxy's events listener, decoded as WS-Scan events and
    counted in the job they belong to."""
    import aiohttp

    from dspscope.sim.scanner import SimulatedScanner
    from dspscope.wsdsp import build, encode, scanbuild
    from dspscope.wsdsp.names import WSCN
    from tests.helpers import eventually_async
    from tests.sim.support import Sink

    async with Sink() as sink:
        received, sink_url = sink.messages, sink.url
        async with SimulatedScanner(port=0, tls_on=False) as scanner:
            proxy, port = _proxy(processes, scanner.port, "events")
            url = f"http://127.0.0.1:{port}/WSDScan"
            async with aiohttp.ClientSession() as session:
                async def send(message):
                    encoded = encode(message)
                    async with session.post(url, data=encoded.content,
                                            headers={"Content-Type": encoded.content_type}) as r:
                        return decode(await r.read(), r.headers.get("Content-Type"),
                                      request=message)

                subscribed = await send(build.subscribe(
                    to=url, notify_to=sink_url,
                    actions=[f"{WSCN}/JobStatusEvent", f"{WSCN}/JobEndStateEvent"]))
                assert subscribed.kind == "response", subscribed.fault
                ticket = {"ScanTicket": {"DocumentParameters": {
                    "Format": "png", "InputSource": "Platen",
                    "MediaSides": {"MediaFront": {"Resolution": {"Width": 75, "Height": 75}}}}}}
                created = await send(scanbuild.request("CreateScanJob", ticket, to=url))
                job_id, token = created.body["JobId"], created.body["JobToken"]
                page = await send(scanbuild.request("RetrieveImage", {
                    "JobId": job_id, "JobToken": token,
                    "DocumentDescription": {"DocumentName": "p"}}, to=url))
                assert page.kind == "response" and page.attachments
                await eventually_async(
                    lambda: any(m.operation == "JobEndStateEvent" for m in received),
                    what="the JobEndStateEvent at the client's sink")
            proxy.stop(signal.SIGINT)
    assert all(m.protocol == "ws-scan" and m.findings == () for m in received)
    records = _records(tmp_path / "events.jsonl")
    events = [r for r in records if r["kind"] == "event"]
    assert {r["operation"] for r in events} >= {"JobStatusEvent", "JobEndStateEvent"}
    assert all(r["request"]["protocol"] == "ws-scan" for r in events)
    assert re.search(r"WS-Scan job \d+ \(.+\) from 127\.0\.0\.1: Completed, 1 image\(s\), "
                     r"[1-9]\d* event\(s\)", proxy.stdout + proxy.stderr), proxy.output()
