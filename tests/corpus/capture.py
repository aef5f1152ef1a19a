"""Turning a corpus case into a capture: the message under test inside a
short, otherwise correct job (created, ended, its end state sent), so that
``dspscope check`` judges the message and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mitmproxy import http

from dspscope.wsdsp import AttachmentData, Message, build, decode, encode, names
from tests.addons import support

TOKEN = "264a19bf-3604-4603-b59d-b47e0f669a1e"
EVENTS_TO = "http://10.0.0.7:5358/dsp-events"


@dataclass
class Step:
    """One flow of a capture.  Bodies are bytes as sent (or a Message to
    encode); ``event`` marks a server-to-device event (answered 202)."""

    request: bytes | Message
    request_type: str | None = None
    response: bytes | Message | None = None
    response_type: str | None = None
    status: int | None = None
    event: bool = False
    dropped: bool = False
    meta: dict[str, object] = field(default_factory=dict)


def to_flows(steps: list[Step]) -> list[http.HTTPFlow]:
    flows = []
    for n, step in enumerate(steps):
        if step.event:
            f = support.flow(step.request, b"", status=202, content_type=step.request_type,
                             client=("10.0.0.9", 5357))
            f.request.host = "10.0.0.7"
        else:
            f = support.flow(step.request, step.response, content_type=step.request_type,
                             status=step.status)
            if step.response_type is not None and f.response is not None:
                f.response.headers["content-type"] = step.response_type
        if step.dropped:
            f.metadata["dspscope"] = {"rules": [{"name": "lose-it", "action": "drop",
                                                 "side": "request", "detail": "drop"}]}
        f.request.timestamp_start = 1_700_000_000 + n
        flows.append(f)
    return flows


# ------------------------------------------------------------ job context


def create_exchange(token: str = TOKEN) -> Step:
    request = support.create()
    return Step(request, response=build.response(request, {"JobToken": token}))


def end_exchange(token: str = TOKEN) -> Step:
    request = build.job_request("EndPostScanJob", to=support.ENDPOINT, token=token)
    return Step(request, response=build.response(request))


def end_state(token: str = TOKEN, state: str = "Completed") -> Step:
    body = {"PostScanJobEndState": {
        "JobToken": token, "PSP_Identifier": support.PSP, "PSP_DisplayName": "Scan",
        "JobOriginatingUserName": "user@contoso.com", "JobCompletedState": state,
        "JobCompletedStateReasons": {"JobStateReason": ["None"]},
        "FilterCompletedStatuses": {"FilterStatus": []}, "JobCompletedTime": "2024-05-01T12:00:00Z"}}
    return Step(build.event("PostScanJobEndStateEvent", body, to=EVENTS_TO), event=True)


def status_event(token: str = TOKEN, state: str = "Processing") -> Step:
    body = {"JobStatus": {"JobToken": token, "JobState": state,
                          "JobStateReasons": {"JobStateReason": ["None"]},
                          "JobCreatedTime": "2024-05-01T11:59:00Z"}}
    return Step(build.event("PostScanJobStatusEvent", body, to=EVENTS_TO), event=True)


def in_job(content: bytes, content_type: str | None, role: str, operation: str,
           *, status: int | None = None) -> list[Step]:
    """``content`` (a request, response or event of ``operation``) in a job
    that is otherwise correct."""
    seen = decode(content, content_type)
    token = seen.job_token or TOKEN
    if role == "event":
        return [create_exchange(token), end_exchange(token),
                Step(content, content_type, event=True), end_state(token)]
    if role == "request":
        answer: Message | None = None
        asked = (seen if seen.protocol == "ws-dsp" and seen.kind == "request"
                 and seen.operation == operation else _request(operation, token))
        answer = build.response(asked, _answer_body(operation, token))
        steps = [] if operation == "CreatePostScanJob" else [create_exchange(token)]
        steps.append(Step(content, content_type, answer, status=status))
        if operation == "CancelPostScanJob":
            return [*steps, end_state(token, "Canceled")]
        if operation != "EndPostScanJob":
            steps.append(end_exchange(token))
        return [*steps, end_state(token)]
    # a response: its request made to match what it answers
    request = _request(operation, token)
    if seen.relates_to:
        request = replace(request, message_id=seen.relates_to)
    if status is None:
        status = build.fault_status(seen) if seen.kind == "fault" else 200
    steps = [] if operation == "CreatePostScanJob" else [create_exchange(token)]
    asked: bytes | Message = request
    asked_type = None
    if operation == "SendImage":  # with its page, as a device sends it
        packed = encode(request, (AttachmentData("page1@test", support.PNG, "image/png"),))
        asked, asked_type = packed.content, packed.content_type
    steps.append(Step(asked, asked_type, response=content, response_type=content_type,
                      status=status))
    if operation == "CancelPostScanJob":
        return [*steps, end_state(token, "Canceled")]
    if operation != "EndPostScanJob":
        steps.append(end_exchange(token))
    return [*steps, end_state(token)]


def _answer_body(operation: str, token: str) -> dict[str, object] | None:
    if operation == "CreatePostScanJob":
        return {"JobToken": token}
    if operation == "GetPostScanJobElements":
        status = {"JobToken": token, "JobState": "Processing"}
        return {"JobElements": {"ElementData": [
            {"@Name": "dsp:JobStatus", "@Valid": True, "JobStatus": status}]}}
    return None


def _request(operation: str, token: str) -> Message:
    if operation == "CreatePostScanJob":
        return support.create()
    if operation == "SendImage":
        return build.send_image(to=support.ENDPOINT, token=token, document_id=1, format="png",
                                content_id="page1@test")
    if operation == "GetPostScanJobElements":
        return build.get_elements(to=support.ENDPOINT, token=token)
    return build.job_request(operation, to=support.ENDPOINT, token=token)


def encoded(message: Message) -> tuple[bytes, str]:
    out = encode(message)
    return out.content, out.content_type


__all__ = ["TOKEN", "Step", "names", "to_flows"]
