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

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from . import names
from .codes import finding
from .messages import Finding, Message
from .sniff import format_matches
from .values import is_guid, is_sid

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


#: xs:dateTime (XML Schema Part 2, 3.2.7): -?YYYY-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)?
_DATETIME = re.compile(
    r"-?\d{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
    r"(Z|[+-](0\d|1[0-3]):[0-5]\d|[+-]14:00)?|-?\d{4,}-\d\d-\d\dT24:00:00(\.0+)?(Z|[+-]\d\d:\d\d)?")

#: Leaf names whose values are checked wherever they appear in a body.
VALUE_CHECKED = frozenset(names.ENUMERATIONS) | frozenset(names.MAX_LENGTH) | names.DATETIMES


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
        yield finding("wsa.action-body-mismatch", f"action {message.action!r} calls for a {expected_body} body, found {body_name or 'none'}")
    if message.protocol == "ws-dsp" and message.kind == "unknown" and message.action:
        yield finding("dsp.unknown-action", f"unknown WS-DSP action {message.action!r}")
    if message.fault is not None:
        yield from _fault(message)
    if message.protocol == "ws-dsp" and body_name and body_ns == names.DSP:
        yield from _required(body_name, message.body)
        yield from _values(_value_leaves(message.body) if leaves is None else leaves)
        if body_name == "SendImageRequest":
            yield from _image(message)
    if message.protocol == "ws-dsp" and body_name and message.kind != "fault":
        yield from _namespaces(message, body_name, body_ns, expected_body)
    vendor = message.extensions
    if vendor and message.protocol == "ws-dsp":  # near misses are _namespaces' findings
        vendor = tuple(path for path in vendor if meant_namespace(message.namespaces.get(path, "")) is None)
    elif vendor and message.protocol == "soap":  # unclassified: a near miss may be why
        near = [path for path in vendor if meant_namespace(message.namespaces.get(path, "")) is not None]
        for path in near[:1]:
            yield _misplaced(path, path.rpartition("/")[2], message.namespaces[path])
        vendor = tuple(path for path in vendor if path not in near)
    if (message.protocol == "soap" and message.action and "/" in message.action
            and message.action not in names.FAULT_ACTIONS):
        space = message.action.rpartition("/")[0]
        meant = meant_namespace(space)
        if meant is not None:
            yield finding("dsp.namespace-near-miss",
                          f"wsa:Action {message.action!r} is in {space!r}, which names no protocol "
                          f"dspscope knows; probably meant: {meant!r}")
    if vendor:
        yield finding("dsp.vendor-extension", "vendor extension elements: " + ", ".join(vendor[:10])
                      + (" …" if len(vendor) > 10 else ""))


def _addressing(m: Message) -> Iterator[Finding]:
    if not m.action:
        yield finding("wsa.missing-action", "no wsa:Action header")
    if not m.message_id:
        if m.kind in ("request", "event", "response", "fault"):
            yield finding("wsa.missing-message-id", "no wsa:MessageID header")
    elif ":" not in m.message_id:
        yield finding("wsa.message-id-not-uri", f"wsa:MessageID {m.message_id!r} is not a URI")
    if m.kind == "request" and not m.to:
        yield finding("wsa.missing-to", "request without wsa:To")
    if m.kind in ("response", "fault") and not m.relates_to:
        yield finding("wsa.missing-relates-to", f"{m.kind} without wsa:RelatesTo")


def _fault(m: Message) -> Iterator[Finding]:
    fault = m.fault
    assert fault is not None
    known = names.FAULTS.get(fault.subcode or "")
    if fault.subcode and known is None:
        yield finding("fault.unknown-subcode", f"subcode {fault.subcode!r} is not one of the spec's")
    if known is not None and fault.code and fault.code != known[0]:
        yield finding("fault.code-mismatch", f"{fault.subcode} should have Code {known[0]}, not {fault.code}")
    if m.action and m.action not in names.FAULT_ACTIONS:
        yield finding("wsa.fault-action",
                      f"a SOAP fault with wsa:Action {m.action!r}; a WS-DSP fault carries the action "
                      f"{names.WSA}/fault")
    if not fault.reason:
        yield finding("fault.missing-reason", "fault without a Reason text")


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
    for path, steps, kind in _REQUIRED_STEPS.get(body_name, ()):
        values = _get(body, steps)
        if not values or values == [""]:
            yield finding("dsp.missing-element", f"{body_name}: {path} is missing")
            continue
        if not kind:  # presence is all that is asked
            continue
        for value in values:
            text = _scalar(value)
            if text is None:
                continue
            if kind == "guid" and not is_guid(text):
                yield finding("dsp.invalid-guid", f"{path}: {text!r} is not a GUID")
            elif kind == "sid" and not is_sid(text):
                yield finding("dsp.invalid-sid", f"{path}: {text!r} is not a SID")
            elif kind == "format" and text not in names.FORMATS:
                yield finding("dsp.unknown-format", f"Format {text!r} is not in the spec's list")
    if body_name == "CreatePostScanJobRequest":
        for i, flt in enumerate(_get(body, _FILTERS), 1):
            if not (type(flt) is dict or isinstance(flt, Mapping)):
                flt = {}
            for part in ("Dialect", "Instructions"):
                if not flt.get(part):
                    yield finding("dsp.missing-element", f"Filter {i}: {part} is missing")
            yield from _dialect(i, flt)


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
            yield finding("dsp.unknown-enum", f"{key} {item!r} is not a value the spec lists")
        if key in names.DATETIMES and not _DATETIME.fullmatch(item):
            yield finding("dsp.invalid-datetime",
                          f"{key} {item!r} is not an xs:dateTime (expected e.g. 2009-04-28T18:37:19Z: "
                          "date, 'T', time, optional fraction and zone)")
        limit = names.MAX_LENGTH.get(key)
        if limit is not None and len(item) > limit:
            yield finding("dsp.too-long", f"{key} is {len(item)} characters; the schema allows {limit}")


def _image(m: Message) -> Iterator[Finding]:
    referenced = [a for a in m.attachments if a.referenced]
    formats = _get(m.body, "DocumentDescription/Format")
    declared = _scalar(formats[0]) if formats else None
    if not _get(m.body, "ImageData/Include") and not referenced:
        yield finding("mtom.attachment-missing", "SendImage carries no xop:Include to an image part")
    for att in referenced:
        if declared and declared in names.FORMATS and not format_matches(declared, att.sniffed_format):
            yield finding("mtom.format-mismatch", f"Format says {declared!r} but the image bytes look like {att.sniffed_format!r}")


# ---------------------------------------------------------------- namespaces

_EXPECTED_ELSEWHERE = frozenset({names.XOP, *names.FILTER_CONFIGS})
_NEAR = {uri: uri.lower().rstrip("/").replace("https://", "http://") for uri in names.KNOWN_NAMESPACES}


def meant_namespace(uri: str) -> str | None:
    """The known namespace an unknown one is almost (another year or path,
    a misspelling, https, a trailing slash); None if it is like none."""
    if not uri or uri in names.KNOWN_NAMESPACES:
        return None
    plain = uri.strip().lower().rstrip("/").replace("https://", "http://")
    host, _, path = plain.partition("://")[2].partition("/")
    best, score = None, 0.0
    for known, norm in _NEAR.items():
        if plain == norm:
            return known
        khost, _, kpath = norm.partition("://")[2].partition("/")
        if khost != host:
            continue
        ratio = difflib.SequenceMatcher(None, path, kpath).ratio()
        if path.rpartition("/")[2] == kpath.rpartition("/")[2]:
            ratio += 0.2  # same last step: "processing", "addressing"
        if ratio > score:
            best, score = known, ratio
    return best if score >= 0.85 else None


def _namespaces(message: Message, body_name: str, body_ns: str,
                expected_body: str | None) -> Iterator[Finding]:
    """WS-DSP elements in a namespace that is not WS-DSP's: a near miss of a
    known namespace, or a prefix bound to another known one."""
    if body_ns != names.DSP and (body_name == expected_body or body_name in names.DSP_ELEMENTS):
        yield _misplaced(body_name, body_name, body_ns)
        return
    if body_ns != names.DSP:
        return
    prefix = body_name + "/"
    for path, ns in message.namespaces.items():
        if ns == names.DSP:
            continue
        key = (path, ns)
        verdict = _PLACED.get(key, _UNSEEN)
        if verdict is _UNSEEN:
            verdict = _placed(path, ns)
            if len(_PLACED) < 4096:
                _PLACED[key] = verdict
        if verdict is not None and path.startswith(prefix):
            yield verdict


_UNSEEN = finding("dsp.wrong-namespace", "(not judged yet)")
#: (path, namespace) -> the finding it makes inside a WS-DSP body (None: fine).
_PLACED: dict[tuple[str, str], Finding | None] = {}


def _placed(path: str, ns: str) -> Finding | None:
    if "/@" in path:
        return None
    local = path.rpartition("/")[2]
    if "/Instructions/" in path and ns in names.FILTER_CONFIGS:
        return None  # filter configurations live in their own namespaces
    if ns == names.PSP and "/PostScanInstructions/" in path:
        return None  # the scan process schema's elements (the spec's example uses them)
    if ns in _EXPECTED_ELSEWHERE and local not in names.DSP_ELEMENTS:
        return None
    if ns in names.KNOWN_NAMESPACES or meant_namespace(ns) is not None:
        return _misplaced(path, local, ns)
    return None


def _misplaced(path: str, local: str, ns: str) -> Finding:
    meant = meant_namespace(ns)
    if meant is not None:
        return finding("dsp.namespace-near-miss",
                       f"{path} is in namespace {ns!r}, which is not one WS-DSP uses; "
                       f"probably meant: {meant!r}")
    return finding("dsp.wrong-namespace",
                   f"{path} is in namespace {ns!r}; the WS-DSP schema defines {local} in "
                   f"{names.DSP!r} (is a prefix bound to the wrong namespace?)")


def _dialect(i: int, flt: Mapping[str, Any]) -> Iterator[Finding]:
    """The filter a Dialect names against the configuration its Instructions hold."""
    dialect = flt.get("Dialect")
    wanted = names.FILTER_CONFIGS.get(dialect) if type(dialect) is str else None
    instructions = flt.get("Instructions")
    if wanted is None or type(instructions) is not dict or wanted in instructions:
        return
    configs = [key for key in instructions if key in _CONFIG_NAMES]
    if configs:
        yield finding("dsp.filter-dialect-mismatch",
                      f"Filter {i}: Dialect {dialect!r} calls for a {wanted} in Instructions, "
                      f"found {', '.join(configs)}")


_CONFIG_NAMES = frozenset(names.FILTER_CONFIGS.values())
