"""Answers the proxy gives in the server's place: SOAP faults built by
wsdsp.build (the one XML builder) and plain HTTP status replies."""

from __future__ import annotations

from dataclasses import dataclass

from dspscope.wsdsp import build, encode, names, scanbuild, wsscan
from dspscope.wsdsp.messages import Message

from .spec import FaultAction, StatusAction


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content: bytes
    headers: tuple[tuple[str, str], ...]


def fault_answer(fault: FaultAction, request: Message | None) -> Answer:
    """A SOAP 1.2 fault answering ``request``: spec Code and English Reason
    for spec subcodes, Detail where the spec has one, a fresh MessageID,
    RelatesTo = the request's MessageID, 400 for Sender and 500 otherwise."""
    req = request if request is not None and request.protocol != "not-soap" else None
    detail = fault.detail
    if detail is None and fault.subcode in names.FAULTS and names.FAULTS[fault.subcode][2]:
        detail = _default_detail(fault.subcode, req)
    scan = (req is not None and req.protocol == "ws-scan") or (
        fault.subcode in wsscan.FAULTS and fault.subcode not in names.FAULTS)
    if scan and fault.namespace is None:
        message = scanbuild.fault(req, fault.subcode, detail, code=fault.code, reason=fault.reason)
    else:
        message = build.fault(req, fault.subcode, detail, code=fault.code, reason=fault.reason,
                              subcode_namespace=fault.namespace)
    encoded = encode(message)
    status = fault.status or build.fault_status(message)
    return Answer(status, encoded.content, (("Content-Type", encoded.content_type),))


def _default_detail(subcode: str, request: Message | None) -> str | None:
    if request is None:
        return None
    if subcode == "ActionNotSupported":
        return request.action
    # InvalidArgs names "the argument": the first one of the request.
    return next(iter(request.body), None) or request.body_name


def status_answer(status: StatusAction) -> Answer:
    headers = list(status.headers)
    content = (status.body or "").encode("utf-8")
    if content and not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
    return Answer(status.code, content, tuple(headers))
