"""Builders for well-formed messages: what the simulators, the fault injector,
replay and the tests send.  Each returns a Message; ``encode`` makes bytes.

Builders return messages exactly as ``decode`` would give them back, so
``decode(encode(m).content) == m`` holds for everything built here.

Over ~400 lines on purpose: one builder per WS-DSP operation, each short and
alike; split by operation they would only be harder to compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from . import checks, names
from .codec import decode
from .encode import encode
from .messages import Fault, Message
from .names import ANONYMOUS, DSP, PSP, SOAP12, WSA, WSD, WSE, WXF, XOP
from .values import new_guid, new_message_id, normalize_guid
from .xmlparse import XML_NS

_CID_SAFE = "@.-_~!$&'()*+,;=:"

# Elements of other protocols that live in a namespace other than their
# parent's (inherit otherwise).
_WSA_ELEMENTS = frozenset({"Address", "ReferenceParameters", "ReferenceProperties", "EndpointReference"})
_EVENTING = {**{n: WSA for n in _WSA_ELEMENTS}, "Identifier": WSE}
_DISCOVERY = {**{n: WSA for n in _WSA_ELEMENTS}}
_TRANSFER = {
    **{n: WSA for n in _WSA_ELEMENTS},
    "Metadata": names.MEX,
    "MetadataSection": names.MEX,
    "ThisDevice": names.DPWS,
    "ThisModel": names.DPWS,
    "Relationship": names.DPWS,
    "Host": names.DPWS,
    "Hosted": names.DPWS,
    "Types": names.DPWS,
    "ServiceId": names.DPWS,
}


def _namespaces(root: str, root_ns: str, body: Any, overrides: Mapping[str, str]) -> dict[str, str]:
    out = {root: root_ns}

    def walk(node: Any, path: str, ns: str, dialect: str | None) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, path, ns, dialect)
            return
        if not isinstance(node, Mapping):
            return
        if isinstance(node.get("Dialect"), str):
            dialect = node["Dialect"]
        for key, value in node.items():
            if key.startswith("@") or key == "#text":
                continue
            child_ns = overrides.get(key, ns)
            parent = path.rpartition("/")[2]
            if root_ns == DSP:
                if parent == "PostScanInstructions":
                    child_ns = PSP
                elif parent == "Instructions" and dialect:
                    child_ns = dialect
                elif key == "Include":
                    child_ns = XOP
            cpath = f"{path}/{key}"
            if child_ns != ns:
                out[cpath] = child_ns
            walk(value, cpath, child_ns, dialect)

    walk(body, root, root_ns, None)
    return out


def _message(
    *,
    protocol: Any,
    kind: Any,
    operation: str | None,
    action: str,
    root: str,
    root_ns: str,
    body: Any,
    to: str | None,
    relates_to: str | None = None,
    reply_to: str | None = None,
    message_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
    overrides: Mapping[str, str] | None = None,
    fault: Fault | None = None,
) -> Message:
    namespaces = _namespaces(root, root_ns, body, overrides or {})
    for key in headers or {}:
        namespaces["Header/" + key] = overrides.get(key, WSE) if overrides else WSE
    message = Message(
        protocol=protocol,
        kind=kind,
        operation=operation,
        action=action,
        message_id=message_id or new_message_id(),
        relates_to=relates_to,
        to=to,
        reply_to=reply_to,
        soap_version="1.2",
        addressing="2004/08",
        fields={root: body},
        headers=dict(headers or {}),
        namespaces=namespaces,
        fault=fault,
        job_token=_token_in(body),
    )
    found = tuple(checks.check(message, root if kind != "fault" else "Fault", root_ns))
    return replace(message, findings=found)


def _token_in(body: Any) -> str | None:
    if isinstance(body, Mapping):
        for key, value in body.items():
            if key == "JobToken" and isinstance(value, str):
                return normalize_guid(value)
            found = _token_in(value)
            if found:
                return found
    elif isinstance(body, list):
        for item in body:
            found = _token_in(item)
            if found:
                return found
    return None


# ------------------------------------------------------------------- WS-DSP


def filter_instructions(dialect: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A psp:Filter entry: config is {"FileShareConfig": {...}} or similar."""
    return {"Dialect": dialect, "Instructions": dict(config)}


def fileshare_filter(*shares: str) -> dict[str, Any]:
    return filter_instructions(
        names.FILESHARE, {"FileShareConfig": {"FileShares": {"ShareUNC": list(shares)}}}
    )


def email_filter(*addresses: str, send_to_scan_user: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"SendToScanUser": send_to_scan_user}
    if addresses:
        config["SendToAddresses"] = {"@CanAddAddresses": False, "EmailAddress": list(addresses)}
    return filter_instructions(names.EMAIL, {"EmailConfig": config})


def request(operation: str, body: Mapping[str, Any], *, to: str, message_id: str | None = None) -> Message:
    """A WS-DSP operation request with the given body children."""
    element = names.OPERATIONS[operation][0]
    return _message(
        protocol="ws-dsp", kind="request", operation=operation,
        action=names.action_for(operation), root=element, root_ns=DSP, body=dict(body),
        to=to, reply_to=ANONYMOUS, message_id=message_id,
    )


def create_post_scan_job(
    *,
    to: str,
    user: str,
    psp_id: str,
    document_root: str = "Scan",
    filters: Sequence[Mapping[str, Any]] = (),
    continue_on_error: bool | None = None,
) -> Message:
    instructions: dict[str, Any] = {}
    if continue_on_error is not None:
        instructions["ContinueOnError"] = continue_on_error
    instructions["DocumentRootName"] = document_root
    instructions["FiltersToProcess"] = {
        "Filter": [dict(f) for f in filters] or [fileshare_filter(r"\\server\scans")]
    }
    return request(
        "CreatePostScanJob",
        {"UserIdentifier": user, "PSP_Identifier": psp_id, "PostScanInstructions": instructions},
        to=to,
    )


def send_image(*, to: str, token: str, document_id: int, format: str, content_id: str) -> Message:
    return request(
        "SendImage",
        {
            "JobToken": token,
            "DocumentDescription": {"DocumentId": document_id, "Format": format},
            # A cid: URL escapes what a URL may not hold; the Content-ID header does not.
            "ImageData": {"Include": {"@href": "cid:" + quote(content_id, safe=_CID_SAFE)}},
        },
        to=to,
    )


def job_request(operation: str, *, to: str, token: str) -> Message:
    """EndPostScanJob or CancelPostScanJob."""
    return request(operation, {"JobToken": token}, to=to)


def get_elements(
    *, to: str, token: str, elements: Iterable[str] = ("dsp:JobStatus", "dsp:JobDescription")
) -> Message:
    return request(
        "GetPostScanJobElements",
        {"JobToken": token, "RequestedElements": {"Name": list(elements)}},
        to=to,
    )


def response(req: Message, body: Mapping[str, Any] | None = None) -> Message:
    """The response to a WS-DSP request (empty body element unless given)."""
    if req.operation not in names.OPERATIONS:
        raise ValueError(f"not a WS-DSP operation: {req.operation!r}")
    element = names.OPERATIONS[req.operation][1]
    return _message(
        protocol="ws-dsp", kind="response", operation=req.operation,
        action=names.action_for(req.operation, response=True), root=element, root_ns=DSP,
        body=dict(body) if body else {}, to=ANONYMOUS, relates_to=req.message_id,
    )


def fault(
    req: Message | None,
    subcode: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    reason: str | None = None,
    subcode_namespace: str | None = None,
) -> Message:
    """A SOAP 1.2 fault answering ``req``; spec subcodes fill in Code and Reason."""
    known = names.FAULTS.get(subcode)
    code = code or (known[0] if known else "Receiver")
    reason = reason or (known[1] if known else "The service had an unexpected error.")
    sub_ns = subcode_namespace or names.FAULT_NAMESPACE.get(subcode, DSP)
    prefix = next((p for p, u in names.PREFIXES.items() if u == sub_ns), "vnd")
    body: dict[str, Any] = {
        "Code": {"Value": f"soap:{code}", "Subcode": {"Value": f"{prefix}:{subcode}"}},
        "Reason": {"Text": {"@lang": "en", "#text": reason}},
    }
    if detail is not None:
        body["Detail"] = detail
    message = _message(
        protocol=req.protocol if req is not None and req.protocol != "not-soap" else "ws-dsp",
        kind="fault", operation=req.operation if req is not None else None,
        action=WSA + "/fault", root="Fault", root_ns=SOAP12, body=body, to=ANONYMOUS,
        relates_to=req.message_id if req is not None else None,
        fault=Fault(code=code, subcode=subcode, reason=reason, detail=detail, subcode_namespace=sub_ns),
    )
    spaces = dict(message.namespaces)
    spaces["Fault/Reason/Text/@lang"] = XML_NS
    return replace(message, namespaces=spaces)


def fault_status(message: Message) -> int:
    """HTTP status SOAP 1.2 gives a fault: 400 for Sender, 500 otherwise."""
    return 400 if message.fault is not None and message.fault.code == "Sender" else 500


def event(name: str, body: Mapping[str, Any], *, to: str) -> Message:
    """PostScanJobStatusEvent ({"JobStatus": ...}) or PostScanJobEndStateEvent."""
    if name not in names.EVENTS:
        raise ValueError(f"not a WS-DSP event: {name!r}")
    return _message(
        protocol="ws-dsp", kind="event", operation=name, action=names.action_for(name),
        root=name, root_ns=DSP, body=dict(body), to=to,
    )


# ------------------------------------------------------- WS-Eventing et al.


def _eventing(
    operation: str, body: Mapping[str, Any], *, to: str, response_to: Message | None = None,
    identifier: str | None = None,
) -> Message:
    name = operation + ("Response" if response_to is not None else "")
    kind = "event" if operation == "SubscriptionEnd" else "response" if response_to else "request"
    return _message(
        protocol="ws-eventing", kind=kind, operation=operation, action=f"{WSE}/{name}",
        root=name, root_ns=WSE, body=dict(body), to=to,
        relates_to=response_to.message_id if response_to else None,
        reply_to=ANONYMOUS if kind == "request" else None,
        headers={"Identifier": identifier} if identifier else None, overrides=_EVENTING,
    )


_EVENT_ACTIONS = tuple(names.action_for(name) for name in names.EVENTS)


def subscribe(*, to: str, notify_to: str, expires: str = "PT1H",
              actions: Iterable[str] = _EVENT_ACTIONS) -> Message:
    return _eventing(
        "Subscribe",
        {
            "Delivery": {"NotifyTo": {"Address": notify_to}},
            "Expires": expires,
            "Filter": {"@Dialect": names.DPWS_ACTION_FILTER, "#text": " ".join(actions)},
        },
        to=to,
    )


def subscribe_response(req: Message, *, manager: str, identifier: str, expires: str) -> Message:
    return _eventing(
        "Subscribe",
        {
            "SubscriptionManager": {
                "Address": manager,
                "ReferenceParameters": {"Identifier": identifier},
            },
            "Expires": expires,
        },
        to=ANONYMOUS, response_to=req,
    )


def eventing_request(operation: str, *, to: str, identifier: str, expires: str | None = None) -> Message:
    """Renew, GetStatus or Unsubscribe for a subscription."""
    body: dict[str, Any] = {"Expires": expires} if expires else {}
    return _eventing(operation, body, to=to, identifier=identifier)


def eventing_response(req: Message, *, expires: str | None = None) -> Message:
    body: dict[str, Any] = {"Expires": expires} if expires else {}
    assert req.operation is not None
    return _eventing(req.operation, body, to=ANONYMOUS, response_to=req)


def subscription_end(*, to: str, manager: str, identifier: str, status: str) -> Message:
    return _eventing(
        "SubscriptionEnd",
        {
            "SubscriptionManager": {"Address": manager, "ReferenceParameters": {"Identifier": identifier}},
            "Status": f"{WSE}/{status}",
        },
        to=to,
    )


def transfer_get(*, to: str) -> Message:
    return _message(
        protocol="ws-transfer", kind="request", operation="Get", action=f"{WXF}/Get",
        root="Get", root_ns=WXF, body={}, to=to, reply_to=ANONYMOUS,
    )


def transfer_get_response(req: Message, *, hosted_address: str, service_id: str,
                          friendly_name: str = "dspscope simulated scan server") -> Message:
    """DPWS metadata naming the WS-DSP endpoint as the Hosted service."""
    body = {
        "MetadataSection": [
            {
                "@Dialect": names.DPWS + "/ThisModel",
                "ThisModel": {"Manufacturer": "dspscope", "ModelName": "DSM scan server (simulated)"},
            },
            {
                "@Dialect": names.DPWS + "/Relationship",
                "Relationship": {
                    "@Type": names.DPWS + "/host",
                    "Hosted": {
                        "EndpointReference": {"Address": hosted_address},
                        "Types": "dsp:DistributedScanProcessing",
                        "ServiceId": service_id,
                    },
                },
            },
        ],
        "FriendlyName": friendly_name,
    }
    return _message(
        protocol="ws-transfer", kind="response", operation="Get", action=f"{WXF}/GetResponse",
        root="Metadata", root_ns=names.MEX, body=body, to=ANONYMOUS,
        relates_to=req.message_id, overrides=_TRANSFER,
    )


def probe(*, to: str, types: str = "dsp:DistributedScanProcessing") -> Message:
    return _message(
        protocol="ws-discovery", kind="request", operation="Probe", action=f"{WSD}/Probe",
        root="Probe", root_ns=WSD, body={"Types": types}, to=to, reply_to=ANONYMOUS,
        overrides=_DISCOVERY,
    )


def probe_matches(req: Message, *, xaddrs: str, endpoint: str | None = None) -> Message:
    body = {
        "ProbeMatch": {
            "EndpointReference": {"Address": endpoint or f"urn:uuid:{new_guid()}"},
            "Types": "dsp:DistributedScanProcessing",
            "XAddrs": xaddrs,
            "MetadataVersion": "1",
        }
    }
    return _message(
        protocol="ws-discovery", kind="response", operation="Probe", action=f"{WSD}/ProbeMatches",
        root="ProbeMatches", root_ns=WSD, body=body, to=ANONYMOUS,
        relates_to=req.message_id, overrides=_DISCOVERY,
    )


def roundtrip(message: Message) -> Message:
    """decode(encode(m)): what a receiver sees of a built message."""
    return decode(encode(message).content)
