"""Conformance checks on one decoded message.  Every finding has a stable code;
sequence checks (across messages) live in the job tracker instead.

Codes:
  wsa.missing-action, wsa.missing-message-id, wsa.missing-to,
  wsa.missing-relates-to, wsa.action-body-mismatch, wsa.message-id-not-uri
  dsp.missing-element, dsp.invalid-guid, dsp.invalid-sid, dsp.unknown-enum,
  dsp.unknown-format, dsp.too-long, dsp.unknown-action, dsp.vendor-extension
  fault.unknown-subcode, fault.code-mismatch, fault.missing-reason
  mtom.format-mismatch, mtom.attachment-missing (also from the codec)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from . import names
from .messages import Finding, Message
from .sniff import format_matches
from .values import is_guid, is_sid

REF = names.SPEC_REF

#: Required children per body element: (path, check) with check one of
#: "guid", "sid", "format", "int" or "" (present and not empty).
REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "CreatePostScanJobRequest": (
        ("UserIdentifier", "sid"),
        ("PSP_Identifier", "guid"),
        ("PostScanInstructions", ""),
        ("PostScanInstructions/DocumentRootName", ""),
        ("PostScanInstructions/FiltersToProcess", ""),
        ("PostScanInstructions/FiltersToProcess/Filter", ""),
    ),
    "CreatePostScanJobResponse": (("JobToken", "guid"),),
    "SendImageRequest": (
        ("JobToken", "guid"),
        ("DocumentDescription/DocumentId", "int"),
        ("DocumentDescription/Format", "format"),
        ("ImageData", ""),
    ),
    "EndPostScanJobRequest": (("JobToken", "guid"),),
    "CancelPostScanJobRequest": (("JobToken", "guid"),),
    "GetPostScanJobElementsRequest": (("JobToken", "guid"), ("RequestedElements/Name", "")),
    "GetPostScanJobElementsResponse": (("JobElements/ElementData", ""),),
    "PostScanJobStatusEvent": (("JobStatus/JobToken", "guid"), ("JobStatus/JobState", "")),
    "PostScanJobEndStateEvent": (
        ("PostScanJobEndState/JobToken", "guid"),
        ("PostScanJobEndState/JobCompletedState", ""),
    ),
}


#: Leaf names whose values are checked wherever they appear in a body.
VALUE_CHECKED = frozenset(names.ENUMERATIONS) | frozenset(names.MAX_LENGTH)


def check(
    message: Message,
    expected_body: str | None,
    body_ns: str,
    leaves: Iterable[tuple[str, str]] | None = None,
) -> Iterator[Finding]:
    """All single-message findings for a decoded SOAP message.

    ``leaves`` are the (local name, text) of the body's VALUE_CHECKED leaves
    when the caller already has them (the decoder collects them as it walks);
    otherwise the body is walked for them here."""
    yield from _addressing(message)
    body_name = message.body_name
    if expected_body and body_name != expected_body and message.kind != "fault":
        yield Finding(
            "error", "wsa.action-body-mismatch",
            f"action {message.action!r} calls for a {expected_body} body, found {body_name or 'none'}",
            REF + "#addressing-rules-that-a-checker-can-verify",
        )
    if message.protocol == "ws-dsp" and message.kind == "unknown" and message.action:
        yield Finding("warning", "dsp.unknown-action", f"unknown WS-DSP action {message.action!r}")
    if message.fault is not None:
        yield from _fault(message)
    if message.protocol == "ws-dsp" and body_name and body_ns == names.DSP:
        yield from _required(body_name, message.body)
        yield from _values(_value_leaves(message.body) if leaves is None else leaves)
        if body_name == "SendImageRequest":
            yield from _image(message)
    if message.extensions:
        yield Finding(
            "info", "dsp.vendor-extension",
            "vendor extension elements: " + ", ".join(message.extensions[:10])
            + (" …" if len(message.extensions) > 10 else ""),
            REF + "#message-trees",
        )


def _addressing(m: Message) -> Iterator[Finding]:
    ref = REF + "#addressing-rules-that-a-checker-can-verify"
    if not m.action:
        yield Finding("error", "wsa.missing-action", "no wsa:Action header", ref)
    if not m.message_id:
        if m.kind in ("request", "event", "response", "fault"):
            yield Finding("error", "wsa.missing-message-id", "no wsa:MessageID header", ref)
    elif ":" not in m.message_id:
        yield Finding("warning", "wsa.message-id-not-uri",
                      f"wsa:MessageID {m.message_id!r} is not a URI", ref)
    if m.kind == "request" and not m.to:
        yield Finding("warning", "wsa.missing-to", "request without wsa:To", ref)
    if m.kind in ("response", "fault") and not m.relates_to:
        yield Finding("error", "wsa.missing-relates-to", f"{m.kind} without wsa:RelatesTo", ref)


def _fault(m: Message) -> Iterator[Finding]:
    fault = m.fault
    assert fault is not None
    ref = REF + "#faults-soap-12-soapfault-instead-of-the-xxxresponse"
    known = names.FAULTS.get(fault.subcode or "")
    if fault.subcode and known is None:
        yield Finding("info", "fault.unknown-subcode",
                      f"subcode {fault.subcode!r} is not one of the spec's", ref)
    if known is not None and fault.code and fault.code != known[0]:
        yield Finding("warning", "fault.code-mismatch",
                      f"{fault.subcode} should have Code {known[0]}, not {fault.code}", ref)
    if not fault.reason:
        yield Finding("warning", "fault.missing-reason", "fault without a Reason text", ref)


def _get(tree: Mapping[str, Any], path: str | tuple[str, ...]) -> list[Any]:
    """Values at a slash path (or its steps); lists along the way are walked."""
    nodes: list[Any] = [tree]
    for step in path.split("/") if type(path) is str else path:
        nxt: list[Any] = []
        for node in nodes:
            if (type(node) is dict or isinstance(node, Mapping)) and step in node:
                value = node[step]
                if type(value) is list:
                    nxt.extend(value)
                else:
                    nxt.append(value)
        nodes = nxt
    return nodes


def _scalar(value: Any) -> str | None:
    if type(value) is str:
        return value
    if type(value) is dict or isinstance(value, Mapping):
        text = value.get("#text")
        return str(text) if text is not None else None
    return None if value is None else str(value)


#: REQUIRED with its paths split once.
_REQUIRED_STEPS: dict[str, tuple[tuple[str, tuple[str, ...], str], ...]] = {
    body: tuple((path, tuple(path.split("/")), kind) for path, kind in paths)
    for body, paths in REQUIRED.items()
}
_FILTERS = ("PostScanInstructions", "FiltersToProcess", "Filter")


def _required(body_name: str, body: Mapping[str, Any]) -> Iterator[Finding]:
    ref = f"{REF}#message-trees"
    for path, steps, kind in _REQUIRED_STEPS.get(body_name, ()):
        values = _get(body, steps)
        if not values or values == [""]:
            yield Finding("error", "dsp.missing-element", f"{body_name}: {path} is missing", ref)
            continue
        if not kind:  # presence is all that is asked
            continue
        for value in values:
            text = _scalar(value)
            if text is None:
                continue
            if kind == "guid" and not is_guid(text):
                yield Finding("error", "dsp.invalid-guid", f"{path}: {text!r} is not a GUID", ref)
            elif kind == "sid" and not is_sid(text):
                yield Finding("error", "dsp.invalid-sid", f"{path}: {text!r} is not a SID", ref)
            elif kind == "format" and text not in names.FORMATS:
                yield Finding("error", "dsp.unknown-format",
                              f"Format {text!r} is not in the spec's list", ref + "#message-trees")
    if body_name == "CreatePostScanJobRequest":
        for i, flt in enumerate(_get(body, _FILTERS), 1):
            for part in ("Dialect", "Instructions"):
                if not (type(flt) is dict or isinstance(flt, Mapping)) or not flt.get(part):
                    yield Finding("error", "dsp.missing-element",
                                  f"Filter {i}: {part} is missing", ref)


def _value_leaves(node: Any, out: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """(name, text) of every VALUE_CHECKED leaf in a decoded body, in
    document order (as the decoder collects them)."""
    out = [] if out is None else out
    if type(node) is list:
        for item in node:
            _value_leaves(item, out)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if type(value) is str:
                if key in VALUE_CHECKED:
                    out.append((key, value))
            elif type(value) is list:
                for item in value:
                    if type(item) is str:
                        if key in VALUE_CHECKED:
                            out.append((key, item))
                    else:
                        _value_leaves(item, out)
            elif isinstance(value, Mapping):
                _value_leaves(value, out)
    return out


def _values(leaves: Iterable[tuple[str, str]]) -> Iterator[Finding]:
    """Enumerations and length limits, anywhere in the body."""
    for key, item in leaves:
        allowed = names.ENUMERATIONS.get(key)
        if allowed is not None and item not in allowed:
            yield Finding("warning", "dsp.unknown-enum",
                          f"{key} {item!r} is not a value the spec lists", f"{REF}#enumerations")
        limit = names.MAX_LENGTH.get(key)
        if limit is not None and len(item) > limit:
            yield Finding("error", "dsp.too-long",
                          f"{key} is {len(item)} characters; the schema allows {limit}", f"{REF}#message-trees")


def _image(m: Message) -> Iterator[Finding]:
    referenced = [a for a in m.attachments if a.referenced]
    formats = _get(m.body, "DocumentDescription/Format")
    declared = _scalar(formats[0]) if formats else None
    if not _get(m.body, "ImageData/Include") and not referenced:
        yield Finding("error", "mtom.attachment-missing",
                      "SendImage carries no xop:Include to an image part", f"{REF}#transport")
    for att in referenced:
        if declared and declared in names.FORMATS and not format_matches(declared, att.sniffed_format):
            yield Finding("error", "mtom.format-mismatch",
                          f"Format says {declared!r} but the image bytes look like {att.sniffed_format!r}",
                          f"{REF}#message-trees")
