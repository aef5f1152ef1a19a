"""Flows for addon tests: real WS-DSP messages (from wsdsp.build) in
mitmproxy test flows."""

from __future__ import annotations

import gzip

from mitmproxy import http
from mitmproxy.proxy import mode_specs
from mitmproxy.test import tflow

from dspscope.wsdsp import AttachmentData, Message, build, encode

SERVER = "https://scan.example.test:5362"
ENDPOINT = f"{SERVER}/ScanServer/0b8e4a8e-2d0a-4c8e-9d4e-2f1f9b1c5a77"
USER = "S-1-5-21-1004336348-1177238915-682003330-512"
PSP = "9e3b5a6c-1d2f-4b8a-8c7e-5f0a1b2c3d4e"
TOKEN = "5c0ffee0-1234-4abc-8def-0123456789ab"


def flow(
    request: Message | bytes | None,
    response: Message | bytes | None = None,
    *,
    attachments: tuple[AttachmentData, ...] = (),
    status: int | None = None,
    content_type: str | None = None,
    reverse: str | None = None,
    client: tuple[str, int] = ("10.0.0.7", 40123),
    gzip_response: bool = False,
) -> http.HTTPFlow:
    """A POST carrying ``request`` (and its ``response``, if given)."""
    f = tflow.tflow(resp=response is not None)
    f.client_conn.peername = client
    f.request.method = "POST"
    f.request.path = "/ScanServer"
    body, ctype = _body(request, attachments, content_type)
    f.request.headers["content-type"] = ctype
    f.request.content = body
    if response is not None:
        assert f.response is not None
        body, ctype = _body(response, (), None)
        f.response.headers["content-type"] = ctype
        if isinstance(response, Message) and status is None:
            status = build.fault_status(response) if response.kind == "fault" else 200
        f.response.status_code = status or 200
        if gzip_response:
            f.response.headers["content-encoding"] = "gzip"
            f.response.raw_content = gzip.compress(body)
        else:
            f.response.content = body
    if reverse:
        f.client_conn.proxy_mode = mode_specs.ProxyMode.parse(f"reverse:{reverse}")
        f.client_conn.sockname = ("127.0.0.1", 8443)
        f.client_conn.sni = None
    return f


def _body(message: Message | bytes | None, attachments: tuple[AttachmentData, ...],
          content_type: str | None) -> tuple[bytes, str]:
    if message is None:
        return b"", content_type or "text/plain"
    if isinstance(message, bytes):
        return message, content_type or "application/octet-stream"
    encoded = encode(message, attachments)
    return encoded.content, content_type or encoded.content_type


def create(to: str = ENDPOINT) -> Message:
    return build.create_post_scan_job(to=to, user=USER, psp_id=PSP)


def created(request: Message, token: str = TOKEN) -> Message:
    return build.response(request, {"JobToken": token})


def job_flows(token: str = TOKEN, images: int = 1) -> list[http.HTTPFlow]:
    """One clean job, exchange by exchange, as a capture would hold it."""
    req = create()
    flows = [flow(req, created(req, token))]
    for n in range(1, images + 1):
        cid = f"page{n}@test"
        send = build.send_image(to=ENDPOINT, token=token, document_id=n, format="png", content_id=cid)
        flows.append(flow(send, build.response(send),
                          attachments=(AttachmentData(cid, PNG),)))
    end = build.job_request("EndPostScanJob", to=ENDPOINT, token=token)
    flows.append(flow(end, build.response(end)))
    status = {"JobToken": token, "JobState": "Completed", "ImagesReceived": images}
    flows.append(flow(build.event("PostScanJobStatusEvent", {"JobStatus": status}, to="http://dev/e"),
                      b"", status=202))
    ending = {
        "JobToken": token, "PSP_Identifier": PSP, "PSP_DisplayName": "Scan", "JobOriginatingUserName": "u",
        "JobCompletedState": "Completed", "JobCompletedStateReasons": {"JobStateReason": ["None"]},
        "FilterCompletedStatuses": {"FilterStatus": []}, "ImagesReceived": images,
        "JobCompletedTime": "2024-05-01T12:00:00Z",
    }
    flows.append(flow(build.event("PostScanJobEndStateEvent", {"PostScanJobEndState": ending},
                                  to="http://dev/e"), b"", status=202))
    for n, f in enumerate(flows):
        f.request.timestamp_start = 1_700_000_000 + n
    return flows


# A real (tiny) PNG: 1x1 pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
