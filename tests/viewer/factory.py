"""Deterministic flows for the viewer's tests: real WS-DSP messages (built by
wsdsp.build, encoded by wsdsp.encode) in mitmproxy flows whose metadata the
proxy's own ``analyze`` wrote, with fixed ids, times and tokens."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mitmproxy import connection, http
from mitmproxy.connection import ConnectionState
from mitmproxy.proxy.mode_specs import ProxyMode

from dspscope.addons.decoded import message
from dspscope.addons.metadata import analyze, write_metadata
from dspscope.sim import images
from dspscope.wsdsp import AttachmentData, Message, build, encode
from dspscope.wsdsp.jobs import JobTracker

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
SERVER = ("scan.example.test", 5362)
ENDPOINT = "https://scan.example.test:5362/ScanServer/6f1c7a52-9d0e-4b8a-a1f3-0c2d4e5f6a7b"
USER = "S-1-5-21-1004336348-1177238915-682003330-512"
PSP = "0c6e1f6a-3b9d-4c2e-8f1a-2b3c4d5e6f70"


def guid(n: int, tag: int = 0) -> str:
    return f"{tag:08x}-0000-4000-8000-{n:012x}"


class Scenario:
    """Builds flows one after another, 250 ms apart, one tracker for all."""

    def __init__(self, start: float = T0) -> None:
        self.clock = start
        self.count = 0
        self.tracker = JobTracker()
        self.flows: list[http.HTTPFlow] = []
        self._image: bytes | None = None

    @property
    def image(self) -> bytes:
        if self._image is None:
            self._image = images.generate("png", 6000, seed=1)
        return self._image

    # ----------------------------------------------------------- one flow

    def exchange(self, request: Message, response: Message | None, *, device: str = "10.0.0.5",
                 status: int | None = None, latency: float = 0.012,
                 attachments: tuple[AttachmentData, ...] = (), event: bool = False,
                 rules: list[dict[str, Any]] | None = None, original: dict[str, bytes] | None = None,
                 error: str | None = None) -> http.HTTPFlow:
        self.count += 1
        n = self.count
        request = replace(request, message_id=f"urn:uuid:{guid(n, 1)}")
        if response is not None:
            response = replace(response, message_id=f"urn:uuid:{guid(n, 2)}",
                               relates_to=request.message_id)
        encoded = encode(request, attachments)
        start = self.clock
        self.clock += 0.25
        if event:
            client = ("127.0.0.1", 40000 + n)
            host, port, path = device, 5357, "/dspscope/sink"
        else:
            client = (device, 50000 + n)
            host, port, path = SERVER[0], SERVER[1], "/ScanServer/6f1c7a52-9d0e-4b8a-a1f3-0c2d4e5f6a7b"
        req = http.Request.make("POST", f"https://{host}:{port}{path}", encoded.content,
                                {"Content-Type": encoded.content_type, "Host": f"{host}:{port}"})
        req.timestamp_start, req.timestamp_end = start, start + 0.001
        flow = http.HTTPFlow(_client(client, start, n), _server((host, port), start, n))
        flow.id = guid(n)
        flow.timestamp_created = start
        flow.request = req
        if response is not None or status is not None:
            body = encode(response).content if response is not None else b""
            kind = encode(response).content_type if response is not None else "text/plain"
            code = status if status is not None else (
                build.fault_status(response) if response is not None and response.kind == "fault"
                else 202 if event else 200)
            resp = http.Response.make(code, body, {"Content-Type": kind})
            resp.timestamp_start, resp.timestamp_end = start + latency, start + latency
            flow.response = resp
        meta, _ = analyze(flow, self.tracker, message(flow, "request"),
                          message(flow, "response") if flow.response is not None else None)
        if error:
            meta["error"] = error
        write_metadata(flow, meta)
        if rules:
            flow.metadata["dspscope"]["rules"] = rules
        if original:
            flow.metadata["dspscope"]["original"] = original
        self.flows.append(flow)
        return flow

    # ------------------------------------------------------------- a job

    def job(self, n: int, *, device: str = "10.0.0.5", images_count: int = 2,
            fault_on: str | None = None, events: bool = True) -> list[http.HTTPFlow]:
        """A whole post-scan job; ``fault_on`` an operation answered with a
        busy-server fault by a rule."""
        token = f"{0x264A1F00 + n * 0x10307:08x}-7c1d-4e2a-9b3f-{n:012x}"
        out = []
        create = build.create_post_scan_job(to=ENDPOINT, user=USER, psp_id=PSP)
        out.append(self.exchange(create, build.response(create, {"JobToken": token}), device=device,
                                 latency=0.038))
        for doc in range(1, images_count + 1):
            cid = f"page{doc}.{n}@scanner.test"
            send = build.send_image(to=ENDPOINT, token=token, document_id=doc, format="png",
                                    content_id=cid)
            att = (AttachmentData(cid, self.image, "application/octet-stream"),)
            if fault_on == "SendImage" and doc == 1:
                answer = build.fault(send, "ServerErrorTemporaryError")
                out.append(self.exchange(
                    send, answer, device=device, attachments=att, latency=0.004,
                    rules=[{"name": "busy-server", "action": "fault", "side": "response"}]))
            out.append(self.exchange(send, build.response(send), device=device,
                                     attachments=att, latency=0.120))
        end = build.job_request("EndPostScanJob", to=ENDPOINT, token=token)
        out.append(self.exchange(end, build.response(end), device=device, latency=0.021))
        if events:
            status = build.event("PostScanJobStatusEvent", {"JobStatus": {
                "JobToken": token, "JobState": "Processing", "ImagesReceived": images_count}},
                to="http://10.0.0.5:5357/sink")
            out.append(self.exchange(status, None, device=device, event=True, status=202,
                                     latency=0.003))
            final = build.event("PostScanJobEndStateEvent", {"PostScanJobEndState": {
                "JobToken": token, "PSP_Identifier": PSP, "PSP_DisplayName": "Scan to share",
                "JobOriginatingUserName": "CONTOSO\\scanuser", "JobCompletedState": "Completed",
                "JobCompletedStateReasons": {"JobStateReason": ["PostScanJobCompletedSuccessfully"]},
                "ImagesReceived": images_count, "JobCompletedTime": "2026-01-01T00:00:09Z"}},
                to="http://10.0.0.5:5357/sink")
            out.append(self.exchange(final, None, device=device, event=True, status=202,
                                     latency=0.003))
        return out


def _client(peer: tuple[str, int], start: float, n: int) -> connection.Client:
    return connection.Client(
        id=guid(n, 3), peername=peer, sockname=("127.0.0.1", 5362), timestamp_start=start,
        state=ConnectionState.OPEN, tls=True, proxy_mode=ProxyMode.parse("regular"))


def _server(address: tuple[str, int], start: float, n: int) -> connection.Server:
    return connection.Server(id=guid(n, 4), address=address, peername=("192.0.2.10", address[1]),
                             timestamp_start=start, state=ConnectionState.CLOSED, tls=True)


def sample(jobs: int = 4) -> Scenario:
    """A few jobs from two devices, one with a busy-server fault."""
    scenario = Scenario()
    for n in range(1, jobs + 1):
        device = "10.0.0.5" if n % 2 else "10.0.0.17"
        scenario.job(n, device=device, fault_on="SendImage" if n == 2 else None)
    return scenario


def hostile(text: str) -> Scenario:
    """A job whose every captured field carries ``text``: metadata strings,
    URL, headers, XML text, attachment ids, findings, rules and errors."""
    from tests.viewer.hostile import HOSTILE

    scenario = Scenario()
    flows = scenario.job(90, images_count=1)
    for flow in flows:
        meta = flow.metadata["dspscope"]
        meta["operation"] = text
        meta["device"] = text
        meta["job_token"] = text
        meta["findings"] = [{"severity": "error", "code": text, "text": s, "ref": text}
                            for s in HOSTILE]
        meta["rules"] = [{"name": text, "action": text, "side": "request"}]
        meta["error"] = text
        meta["request"]["fields"] = {text: {text: list(HOSTILE)}}
        for attachment in meta["request"]["attachments"]:
            attachment["content_id"] = text
            attachment["format"] = text
        flow.request.path = "/" + text
        flow.request.headers["X-Hostile"] = text.encode("utf-8", "surrogateescape").decode("latin-1")
        flow.metadata["dspscope"]["original"] = {"request": text.encode()}
    # A body that is not XML at all, full of terminal controls.
    flows[-1].request.content = text.encode()
    return scenario
