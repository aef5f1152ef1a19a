"""Conformance checks on one decoded WS-Scan message (the WS-DSP ones are in
``checks``; the generic WS-Addressing and SOAP ones apply to both).

Codes:
  wscn.prerelease-namespace, wsa.version-2003-03, wscn.unknown-action,
  wscn.missing-element, wscn.invalid-integer, wscn.invalid-boolean,
  wscn.unknown-enum, wscn.unknown-format, wscn.unknown-fault,
  wscn.fault-not-for-operation, wscn.fault-code-mismatch
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from . import names, wsscan
from .codes import finding
from .messages import Finding, Message

SCHEMA = wsscan.REF_SCHEMA
WSA_REF = "WS-Addressing (W3C Member Submission, 10 August 2004), section 1.2 (namespace)"

#: Children a body must have: (path, check), from each element's page; check
#: is "int", "" (present and not empty) or "present" (may be empty: no jobs).
REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "GetScannerElementsRequest": (("RequestedElements/Name", ""),),
    "GetScannerElementsResponse": (("ScannerElements", ""),),
    "ValidateScanTicketRequest": (("ScanTicket", ""),),
    "ValidateScanTicketResponse": (("ValidationInfo/ValidTicket", ""),),
    "CreateScanJobRequest": (("ScanTicket", ""),),
    "CreateScanJobResponse": (("JobId", "int"), ("JobToken", ""), ("ImageInformation", ""),),
    "RetrieveImageRequest": (("JobId", "int"), ("JobToken", ""), ("DocumentDescription", "")),
    "RetrieveImageResponse": (("ScanData", ""),),
    "GetJobElementsRequest": (("JobId", "int"), ("RequestedElements/Name", "")),
    "GetJobElementsResponse": (("JobElements", ""),),
    "CancelJobRequest": (("JobId", "int"),),
    "GetActiveJobsResponse": (("ActiveJobs", "present"),),
    "GetJobHistoryResponse": (("JobHistory", "present"),),
    "ScanAvailableEvent": (("ClientContext", ""), ("ScanIdentifier", "")),
    "ScannerElementsChangeEvent": (("ElementChanges", ""),),
    "ScannerStatusSummaryEvent": (("StatusSummary/ScannerState", ""),),
    "ScannerStatusConditionEvent": (("DeviceCondition", ""),),
    "ScannerStatusConditionClearedEvent": (("DeviceConditionCleared/ConditionId", ""),),
    "JobStatusEvent": (("JobStatus/JobId", "int"), ("JobStatus/JobState", "")),
    "JobEndStateEvent": (("JobEndState/JobId", "int"), ("JobEndState/JobCompletedState", "")),
}  # fmt: skip


def check(message: Message, body_ns: str) -> Iterator[Finding]:
    """The WS-Scan findings of a message classified as WS-Scan."""
    if body_ns == wsscan.WSCN_2006_01:
        yield finding("wscn.prerelease-namespace",
            f"WS-Scan pre-release namespace {wsscan.WSCN_2006_01}; shipped scanners and clients "
            f"(Windows, sane-airscan) use {names.WSCN}",
            ref=SCHEMA,
        )
    elif message.action and message.action.startswith(wsscan.WSCN_2006_01 + "/"):
        yield finding("wscn.prerelease-namespace",
            f"wsa:Action in the WS-Scan pre-release namespace {wsscan.WSCN_2006_01}; shipped "
            f"scanners and clients use {names.WSCN}",
            ref=SCHEMA,
        )
    if message.addressing == "2003/03":
        yield finding("wsa.version-2003-03",
            f"WS-Addressing pre-release namespace {wsscan.WSA_2003_03}; WS-Scan uses "
            f"{names.WSA}",
            ref=WSA_REF,
        )
    if message.kind == "unknown" and message.action:
        yield finding("wscn.unknown-action",
                      f"unknown WS-Scan action {message.action!r}", ref=wsscan.REF_OPERATIONS)
    if message.fault is not None:
        yield from _fault(message)
        return
    name = message.body_name
    if not name or body_ns not in wsscan.NAMESPACES:
        return
    yield from _required(name, message.body)
    yield from _values(message.body, name)


def _required(body_name: str, body: Mapping[str, Any]) -> Iterator[Finding]:
    for path, kind in REQUIRED.get(body_name, ()):
        values = _get(body, path)
        if not values or (values == [""] and kind != "present"):
            yield finding("wscn.missing-element", f"{body_name}: {path} is missing",
                          ref=wsscan.page(body_name))
        elif kind == "int":
            for value in values:
                if not isinstance(value, int) or isinstance(value, bool):
                    yield finding("wscn.invalid-integer",
                                  f"{body_name}/{path}: {value!r} is not an integer",
                                  ref=wsscan.page(path.rpartition("/")[2]))


def _values(node: Any, path: str) -> Iterator[Finding]:
    """Enumerations, formats and booleans wherever they appear."""
    if isinstance(node, list):
        for item in node:
            yield from _values(item, path)
        return
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        local = key[1:] if key.startswith("@") else key
        if isinstance(value, Mapping | list):
            yield from _values(value, f"{path}/{key}")
            continue
        if not isinstance(value, str):
            continue
        text = value.strip()
        if local in wsscan.ENUMERATIONS and text not in wsscan.ENUMERATIONS[local]:
            yield finding("wscn.unknown-enum",
                          f"{path}/{key}: {text!r} is not one of "
                          f"{', '.join(sorted(wsscan.ENUMERATIONS[local]))}", ref=wsscan.page(local))
        elif local in ("Format", "FormatValue") and text and text not in names.FORMATS:
            yield finding("wscn.unknown-format",
                          f"{path}/{key}: {text!r} is not a WS-Scan format", ref=wsscan.page("Format"))
        elif local in wsscan.BOOLEANS and text:
            yield finding("wscn.invalid-boolean",
                          f"{path}/{key}: {text!r} is not an xs:boolean", ref=wsscan.page(local))
        elif local in wsscan.INTEGERS and text:
            yield finding("wscn.invalid-integer",
                          f"{path}/{key}: {text!r} is not an integer", ref=wsscan.page(local))


def _fault(message: Message) -> Iterator[Finding]:
    fault = message.fault
    assert fault is not None
    subcode = fault.subcode or ""
    known = wsscan.FAULTS.get(subcode)
    if not subcode:
        return
    if known is None:
        yield finding("wscn.unknown-fault",
                      f"subcode {subcode!r} is not one of the WS-Scan error codes",
                      ref=wsscan.REF_ERRORS)
        return
    if fault.code and fault.code != known[0]:
        yield finding("wscn.fault-code-mismatch",
                      f"{subcode} should have Code {known[0]}, not {fault.code}",
                      ref=wsscan.REF_ERRORS)
    op = message.operation
    if op in wsscan.OPERATIONS and subcode not in wsscan.COMMON_FAULTS and subcode not in (
        wsscan.OPERATION_FAULTS.get(op, frozenset())
    ):
        yield finding("wscn.fault-not-for-operation",
                      f"{subcode} is not among the faults {op} may return",
                      ref=wsscan.page(op + "Request"))


def _get(tree: Mapping[str, Any], path: str) -> list[Any]:
    nodes: list[Any] = [tree]
    for step in path.split("/"):
        found: list[Any] = []
        for node in nodes:
            if isinstance(node, Mapping) and step in node:
                value = node[step]
                found.extend(value if isinstance(value, list) else [value])
        nodes = found
    return nodes
