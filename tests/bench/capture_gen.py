"""Large dspscope captures, fast: N exchanges in a ``.mitm`` file with the
metadata the proxy writes, readable by ``dspscope open`` and ``mitmproxy -nr``.

One job (CreatePostScanJob, 5 x SendImage with a small real PNG,
EndPostScanJob, and the server's status and end-state events) is built the
real way: messages from wsdsp.build through wsdsp.encode, answered by the
simulated server's job book, decoded by wsdsp.decode and analysed by the
proxy's own ``addons.decode.analyze``; its flows are serialised once.
Every further job is that template with its identifiers (flow and
connection ids, job token, message ids, device address) swapped for fresh
ones of the same length and its timestamps shifted, straight in the
serialised bytes, which keeps the tnetstring lengths valid.  A 100k
capture takes seconds instead of minutes.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mitmproxy import http
from mitmproxy.io import tnetstring
from mitmproxy.test import tflow

from dspscope.addons.metadata import analyze, write_metadata
from dspscope.sim import images
from dspscope.sim.jobs import JobBook
from dspscope.wsdsp import AttachmentData, Message, build, decode, encode
from dspscope.wsdsp.jobs import JobTracker

T0 = 1_767_225_600.123457  # 2026-01-01 00:00 UTC, with enough decimals to shift in place
SERVER = ("scan.example.test", 5362)
ENDPOINT = "https://scan.example.test:5362/ScanServer/6f1c7a52-9d0e-4b8a-a1f3-0c2d4e5f6a7b"
SINK = "http://10.0.0.100:5357/events/1b5e0c2a-77d4-4f3e-9a61-3c2d1e0f9a8b"
USER = "S-1-5-21-1004336348-1177238915-682003330-512"
PSP = "0c6e1f6a-3b9d-4c2e-8f1a-2b3c4d5e6f70"
DEVICE = "10.0.0.100"
JOB_SECONDS = 2.0  # a job every two seconds of capture time per template
_GUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(rb"(?<=:)(17\d{8})\.(\d+)(?=\^)")


def _flow(request: Message, response: Message | None, tracker: JobTracker, at: float, *,
          event: bool = False, attachments: tuple[AttachmentData, ...] = ()) -> http.HTTPFlow:
    flow = tflow.tflow(resp=True)
    encoded = encode(request, attachments)
    if event:
        flow.client_conn.peername = ("10.0.9.1", 49152)  # the server posting an event
        flow.request.url = SINK
    else:
        flow.client_conn.peername = (DEVICE, 50123)
        flow.request.url = ENDPOINT
    flow.server_conn.address = SERVER if not event else ("10.0.0.100", 5357)
    flow.request.method = "POST"
    flow.request.headers["content-type"] = encoded.content_type
    flow.request.content = encoded.content
    assert flow.response is not None
    if response is not None:
        reply = encode(response)
        flow.response.status_code = 200
        flow.response.headers["content-type"] = reply.content_type
        flow.response.content = reply.content
    else:
        flow.response.status_code = 202
        flow.response.headers.pop("content-type", None)
        flow.response.content = b""
    flow.timestamp_created = at
    flow.client_conn.timestamp_start = at - 0.0101
    flow.server_conn.timestamp_start = at - 0.0092
    flow.request.timestamp_start, flow.request.timestamp_end = at, at + 0.0031
    flow.response.timestamp_start, flow.response.timestamp_end = at + 0.0112, at + 0.0123
    req = decode(flow.request.content or b"", encoded.content_type)
    resp = decode(flow.response.content or b"", flow.response.headers.get("content-type"),
                  request=req) if response is not None else None
    meta, _ = analyze(flow, tracker, req, resp)
    write_metadata(flow, meta)
    return flow


def template_job() -> list[bytes]:
    """The serialised flows of one job, in capture order."""
    book, tracker = JobBook(), JobTracker()
    image = images.generate("png", 2000, seed=3)
    at = T0
    flows: list[http.HTTPFlow] = []

    def step() -> float:
        nonlocal at
        at += 0.150
        return at

    create = build.create_post_scan_job(to=ENDPOINT, user=USER, psp_id=PSP, document_root="Scan",
                                        filters=[build.fileshare_filter(r"\\scanserver\scans")])
    job = book.create(decode(encode(create).content, encode(create).content_type), DEVICE)
    flows.append(_flow(create, build.response(create, {"JobToken": job.token}), tracker, step()))

    def status() -> None:
        flows.append(_flow(build.event("PostScanJobStatusEvent", {"JobStatus": job.status()}, to=SINK),
                           None, tracker, step(), event=True))

    status()
    for document in range(1, 6):
        cid = f"page{document}.{job.token}@device"
        request = build.send_image(to=ENDPOINT, token=job.token, document_id=document,
                                   format="png", content_id=cid)
        attachment = (AttachmentData(cid, image),)
        wire = encode(request, attachment)
        book.accept_image(decode(wire.content, wire.content_type))  # (job, document, part, resent)
        flows.append(_flow(request, build.response(request), tracker, step(), attachments=attachment))
        if document == 1:
            status()
    end = build.job_request("EndPostScanJob", to=ENDPOINT, token=job.token)
    book.end(decode(encode(end).content))
    flows.append(_flow(end, build.response(end), tracker, step()))
    status()
    job.filter_started(0)
    job.filter_done(0)
    job.complete(book.now())
    status()
    flows.append(_flow(build.event("PostScanJobEndStateEvent",
                                   {"PostScanJobEndState": job.end_state()}, to=SINK),
                       None, tracker, step(), event=True))
    return [tnetstring.dumps(f.get_state()) for f in flows]


def _fresh_guid() -> bytes:
    return str(uuid.uuid4()).encode()


def _slots(chunk: bytes, varying: set[bytes]) -> list[tuple[int, int, bytes, int]]:
    """Where a template flow has per-job values: (start, end, value, decimals);
    decimals < 0 marks an identifier, else a timestamp with that many decimals."""
    found = [(m.start(), m.end(), m.group(0), -1) for m in _GUID.finditer(chunk)
             if m.group(0) in varying]
    found += [(m.start(), m.end(), m.group(0), -1) for m in re.finditer(rb"10\.0\.0\.100", chunk)]
    found += [(m.start(), m.end(), m.group(0), len(m.group(2))) for m in _TIME.finditer(chunk)]
    return sorted(found)


def exchanges(count: int) -> Iterator[bytes]:
    """``count`` serialised flows: jobs of the template, each with its own
    identifiers, device (one of 64) and time."""
    template = template_job()
    constant = {b"6f1c7a52-9d0e-4b8a-a1f3-0c2d4e5f6a7b", b"1b5e0c2a-77d4-4f3e-9a61-3c2d1e0f9a8b",
                PSP.lower().encode()}
    varying = {m for chunk in template for m in _GUID.findall(chunk)} - constant
    plans = [(chunk, _slots(chunk, varying)) for chunk in template]
    made = 0
    job = 0
    while made < count:
        table: dict[bytes, bytes] = {g: _fresh_guid() for g in varying}
        table[b"10.0.0.100"] = f"10.0.0.{100 + job % 64}".encode()
        shift = job * JOB_SECONDS / 16  # sixteen devices' worth of jobs in parallel
        for chunk, slots in plans:
            if made >= count:
                break
            pieces = []
            at = 0
            for start, end, value, decimals in slots:
                pieces.append(chunk[at:start])
                if decimals < 0:
                    pieces.append(table[value])
                else:
                    pieces.append(f"{float(value) + shift:.{decimals}f}".encode())
                at = end
            pieces.append(chunk[at:])
            yield b"".join(pieces)
            made += 1
        job += 1


def write(path: Path, count: int) -> Path:
    """A capture of ``count`` exchanges at ``path``."""
    with open(path, "wb") as fh:
        for chunk in exchanges(count):
            fh.write(chunk)
        # On disk before anyone is timed opening it: write-back of 600 MB
        # must not run beside the measurement.
        fh.flush()
        os.fsync(fh.fileno())
    return path


def flows(count: int) -> list[http.HTTPFlow]:
    """``count`` flows in memory (for live append): parsed from the same bytes."""
    out = []
    for chunk in exchanges(count):
        state: Any = tnetstring.loads(chunk)
        out.append(http.HTTPFlow.from_state(state))
    return out


if __name__ == "__main__":  # python -m tests.bench.capture_gen OUT.mitm COUNT
    import sys
    import time

    began = time.monotonic()
    write(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"{sys.argv[2]} exchanges in {time.monotonic() - began:.1f} s -> {sys.argv[1]}")
