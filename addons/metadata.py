"""The record of one flow in ``flow.metadata["dspscope"]`` (saved with the
flow): what it was, which job it belongs to, its findings, and what the
proxy or a rule changed.

``analyze`` is pure apart from the job tracker it feeds: the live proxy
(``Track``) and offline readers of stock captures both call it, so both
write the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from mitmproxy import http

from dspscope.wsdsp import Fault, Message
from dspscope.wsdsp.jobs import JobTracker, Observation

METADATA_KEY = "dspscope"
METADATA_VERSION = 1


def device_of(flow: http.HTTPFlow, kind: str) -> str:
    """The device's address: the client of an exchange, the destination of
    an event (the server is the client there)."""
    if kind == "event":
        return flow.request.host
    peer = flow.client_conn.peername
    return str(peer[0]) if peer else ""


def analyze(
    flow: http.HTTPFlow,
    tracker: JobTracker,
    request: Message,
    response: Message | None,
) -> tuple[dict[str, Any], Observation]:
    """The metadata of one finished flow, feeding ``tracker`` on the way.

    Pure apart from the tracker: the live proxy and offline readers of
    stock captures both call this, so both write the same shape."""
    kind = "event" if request.kind == "event" else "exchange"
    device = device_of(flow, kind)
    stamp = flow.request.timestamp_start or flow.timestamp_created
    if kind == "event":
        seen = tracker.event(request, exchange_id=flow.id, time=stamp, dropped=dropped_by_rule(flow))
    else:
        status = flow.response.status_code if flow.response is not None else None
        seen = tracker.exchange(request, response, device=device, exchange_id=flow.id, time=stamp,
                                status=status)
    first = request if request.protocol != "not-soap" or response is None else response
    findings = [f.to_json() for f in request.findings]
    if response is not None:
        findings.extend(f.to_json() for f in response.findings)
    findings.extend(f.to_json() for f in seen.findings)
    job_token = request.job_token or (response.job_token if response is not None else None)
    if job_token is None and seen.job is not None:
        job_token = seen.job.token
    meta = {
        "version": METADATA_VERSION,
        "kind": kind,
        "protocol": first.protocol,
        "operation": request.operation or (response.operation if response is not None else None),
        "job_token": job_token,
        "device": device,
        "request": request.to_json(),
        "response": response.to_json() if response is not None else None,
        "findings": findings,
        "error": None,
    }
    return meta, seen


def dropped_by_rule(flow: http.HTTPFlow) -> bool:
    """Whether a rule dropped this flow's request (the rules addon records
    each rule it applied, with its actions, under "rules")."""
    meta = flow.metadata.get(METADATA_KEY)
    return dropped_by(meta.get("rules") if isinstance(meta, dict) else None)


def dropped_by(applied: Any) -> bool:
    """Whether these rule records (flow metadata or a capture's index) drop."""
    return isinstance(applied, list) and any(
        isinstance(r, dict) and not r.get("error") and "drop" in str(r.get("action", "")).split("+")
        for r in applied)


def write_metadata(flow: http.HTTPFlow, meta: dict[str, Any]) -> dict[str, Any]:
    """Merge ``meta`` into the flow's metadata, keeping what other addons
    added (rules applied, original bodies, address rewrites)."""
    current = flow.metadata.get(METADATA_KEY)
    merged = dict(current) if isinstance(current, dict) else {}
    merged.update(meta)
    merged.setdefault("rules", [])
    flow.metadata[METADATA_KEY] = merged
    return merged


def note_rewrite(flow: http.HTTPFlow, side: Literal["request", "response"], what: str, before: str, after: str) -> None:
    """Record in the metadata that the proxy itself changed a body (address
    rewriting; rules record theirs under "rules")."""
    meta = flow.metadata.setdefault(METADATA_KEY, {})
    meta.setdefault("rewrites", []).append(
        {"side": side, "what": what, "from": before, "to": after})


def waited(flow: http.HTTPFlow, meta: Any = None) -> tuple[float | None, float | None]:
    """(seconds the device waited, the rules' share of it): request start
    to the moment the answer left the proxy.  That is the response's end,
    unless a rule held the message after it (a response ``delay``, an
    answer in the server's place after a delay): then the moment the rules
    let it go, which the rules addon records as ``released_at`` beside the
    ``rule_delay`` it added up."""
    meta = meta if isinstance(meta, dict) else flow.metadata.get(METADATA_KEY)
    meta = meta if isinstance(meta, dict) else {}
    held = meta.get("rule_delay")
    share = float(held) if isinstance(held, int | float) and held > 0 else None
    response, start = flow.response, flow.request.timestamp_start
    if response is None or not response.timestamp_end or not start:
        return None, share
    end = response.timestamp_end
    released = meta.get("released_at")
    if share is not None and isinstance(released, int | float):
        end = max(end, float(released))
    return end - start, share


def record(flow: http.HTTPFlow) -> dict[str, Any]:
    """The flow's dspscope record, created empty if absent (or not a dict)."""
    meta = flow.metadata.get(METADATA_KEY)
    if not isinstance(meta, dict):
        meta = flow.metadata[METADATA_KEY] = {}
    return meta


def message_of(data: Mapping[str, Any] | None) -> Message | None:
    """A Message from its ``to_json()`` form: what the job tracker reads (the
    record's request and response; captures indexed or saved)."""
    if not data:
        return None
    fault = data.get("fault")
    return Message(
        protocol=data.get("protocol") or "not-soap",
        kind=data.get("kind") or "unknown",
        operation=data.get("operation"),
        action=data.get("action"),
        message_id=data.get("message_id"),
        relates_to=data.get("relates_to"),
        to=data.get("to"),
        job_token=data.get("job_token"),
        soap_version=data.get("soap_version"),
        fields=data.get("fields") or {},
        fault=Fault(code=fault.get("code") or "", subcode=fault.get("subcode"),
                    reason=fault.get("reason"), detail=fault.get("detail"))
        if isinstance(fault, Mapping) else None,
    )
