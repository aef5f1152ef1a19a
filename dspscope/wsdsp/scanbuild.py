"""Builders for WS-Scan messages: what the simulated scanner answers and the
tests send.  Each returns a Message for ``encode``, with the body in the
shipped WS-Scan namespace (2006/08), its attributes qualified as the
reference pages write them (``wscn:Name``, ``wscn:Valid``...), and
WS-Addressing 2004/08 headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from . import build, names, wsscan
from .messages import Fault, Message
from .names import ANONYMOUS, WSA, WSCN, XOP
from .values import new_message_id

_OVERRIDES = {"Include": XOP}
_WSA_ELEMENTS = frozenset({"Address", "ReferenceParameters", "EndpointReference"})


def _namespaces(root: str, root_ns: str, body: Any, overrides: Mapping[str, str]) -> dict[str, str]:
    out = {root: root_ns}

    def walk(node: Any, path: str, ns: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, path, ns)
            return
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            if key == "#text":
                continue
            if key.startswith("@"):
                if ns in wsscan.NAMESPACES:
                    out[f"{path}/{key}"] = ns  # wscn:Name, wscn:Valid, wscn:MustHonor...
                continue
            child_ns = overrides.get(key, ns)
            cpath = f"{path}/{key}"
            if child_ns != ns:
                out[cpath] = child_ns
            walk(value, cpath, child_ns)

    walk(body, root, root_ns)
    return out


def _message(
    *,
    kind: Any,
    operation: str | None,
    action: str,
    root: str,
    body: Mapping[str, Any],
    to: str | None,
    root_ns: str = WSCN,
    relates_to: str | None = None,
    reply_to: str | None = None,
    overrides: Mapping[str, str] | None = None,
    fault: Fault | None = None,
    protocol: Any = "ws-scan",
) -> Message:
    return Message(
        protocol=protocol,
        kind=kind,
        operation=operation,
        action=action,
        message_id=new_message_id(),
        relates_to=relates_to,
        to=to,
        reply_to=reply_to,
        soap_version="1.2",
        addressing="2004/08",
        fields={root: dict(body)},
        namespaces=_namespaces(root, root_ns, body, overrides or _OVERRIDES),
        fault=fault,
    )


def request(operation: str, body: Mapping[str, Any], *, to: str) -> Message:
    """A WS-Scan operation request with the given body children."""
    return _message(
        kind="request", operation=operation, action=wsscan.action_for(operation),
        root=wsscan.OPERATIONS[operation][0], body=body, to=to, reply_to=ANONYMOUS,
    )


def response(req: Message, body: Mapping[str, Any] | None = None) -> Message:
    """The response to a WS-Scan request (an empty body element unless given)."""
    if req.operation not in wsscan.OPERATIONS:
        raise ValueError(f"not a WS-Scan operation: {req.operation!r}")
    return _message(
        kind="response", operation=req.operation,
        action=wsscan.action_for(req.operation, response=True),
        root=wsscan.OPERATIONS[req.operation][1], body=body or {}, to=ANONYMOUS,
        relates_to=req.message_id,
    )


def event(name: str, body: Mapping[str, Any], *, to: str) -> Message:
    if name not in wsscan.EVENTS:
        raise ValueError(f"not a WS-Scan event: {name!r}")
    return _message(kind="event", operation=name, action=wsscan.action_for(name), root=name,
                    body=body, to=to)


def fault(req: Message | None, subcode: str, detail: str | None = None, *,
          code: str | None = None, reason: str | None = None) -> Message:
    """A SOAP 1.2 fault answering ``req`` with a WS-Scan error code (Code and
    Reason from the error-code pages unless given); built as every fault is,
    by ``build.fault``."""
    known = wsscan.FAULTS.get(subcode, ("Receiver", "The service had an unexpected error."))
    sub_ns = WSA if subcode == "ActionNotSupported" else WSCN
    message = build.fault(req, subcode, detail, code=code or known[0], reason=reason or known[1],
                          subcode_namespace=sub_ns)
    return replace(message, protocol="ws-scan")


def element_data(name: str, content: Any | None) -> dict[str, Any]:
    """One ElementData entry: valid with its content, or marked not valid."""
    if content is None:
        return {"@Name": name, "@Valid": False}
    local = name.rpartition(":")[2]
    return {"@Name": name, "@Valid": True, local: content}


def scan_data(content_id: str) -> dict[str, Any]:
    """A RetrieveImageResponse body pointing at the image part."""
    return {"ScanData": {"Include": {"@href": "cid:" + content_id}}}


# ----------------------------------------------------- discovery, metadata

SCANNER_TYPE = "wscn:ScannerServiceType"


def transfer_get_response(req: Message, *, hosted_address: str, service_id: str,
                          device_id: str, friendly_name: str) -> Message:
    """DPWS metadata of a scanner device: its model and the hosted scan service."""
    body = {
        "MetadataSection": [
            {
                "@Dialect": names.DPWS + "/ThisModel",
                "ThisModel": {"Manufacturer": "dspscope", "ModelName": "WSD scanner (simulated)"},
            },
            {
                "@Dialect": names.DPWS + "/ThisDevice",
                "ThisDevice": {"FriendlyName": friendly_name, "FirmwareVersion": "1.0",
                               "SerialNumber": device_id.rpartition(":")[2][:12]},
            },
            {
                "@Dialect": names.DPWS + "/Relationship",
                "Relationship": {
                    "@Type": names.DPWS + "/host",
                    "Hosted": {
                        "EndpointReference": {"Address": hosted_address},
                        "Types": SCANNER_TYPE,
                        "ServiceId": service_id,
                    },
                },
            },
        ],
    }
    overrides = {
        **{n: WSA for n in _WSA_ELEMENTS},
        "Metadata": names.MEX, "MetadataSection": names.MEX,
        **{n: names.DPWS for n in ("ThisDevice", "ThisModel", "Relationship", "Hosted", "Types",
                                    "ServiceId", "Manufacturer", "ModelName", "FriendlyName",
                                    "FirmwareVersion", "SerialNumber")},
    }
    return _declaring_wscn(_message(
        protocol="ws-transfer", kind="response", operation="Get",
        action=f"{names.WXF}/GetResponse", root="Metadata", root_ns=names.MEX, body=body,
        to=ANONYMOUS, relates_to=req.message_id, overrides=overrides,
    ))


def _declaring_wscn(message: Message) -> Message:
    """The message with the wscn prefix declared: its Types QName uses it.
    (encode declares the prefix of every namespace the map names; this
    entry names no element.)"""
    return replace(message, namespaces={**message.namespaces, "xmlns/wscn": WSCN})


def probe_matches(req: Message, *, xaddrs: str, endpoint: str) -> Message:
    body = {
        "ProbeMatch": {
            "EndpointReference": {"Address": endpoint},
            "Types": SCANNER_TYPE,
            "XAddrs": xaddrs,
            "MetadataVersion": "1",
        }
    }
    return _declaring_wscn(_message(
        protocol="ws-discovery", kind="response", operation="Probe",
        action=f"{names.WSD}/ProbeMatches", root="ProbeMatches", root_ns=names.WSD, body=body,
        to=ANONYMOUS, relates_to=req.message_id, overrides={n: WSA for n in _WSA_ELEMENTS},
    ))
