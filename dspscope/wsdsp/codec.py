"""decode(bytes) -> Message: an HTTP body read into a Message, classified,
its attachments found and checked.

decode never raises on bad input.  Parsing is xmlparse's (hardened, bounded),
the walk from tree to fields is walk's (or the shape cache's, for a shape seen
before); what cannot be decoded becomes a Finding.  encode, Encoded,
AttachmentData (wsdsp.encode) and parse_envelope, XML_NS (wsdsp.xmlparse) are
re-exported here for callers that know them from here.

Every finding code, its severity and its reference are in ``codes.CODES``
(the README's table is generated from it).
"""

from __future__ import annotations

import hashlib

from . import binding, checks, mtom, names, scanchecks, shapes, wsscan
from .codes import finding
from .encode import AttachmentData, Encoded, encode
from .messages import Attachment, Fault, Finding, Kind, Message, Protocol
from .names import DSP, SOAP11, SOAP12
from .sniff import sniff_format
from .values import normalize_guid
from .walk import MANY_ATTRIBUTES, Walk, Walked, walk_envelope
from .xmlparse import XML_NS, after_prolog, looks_like_envelope, parse, parse_envelope, split_tag

__all__ = ["AttachmentData", "Encoded", "XML_NS", "decode", "encode", "parse_envelope"]

_HASH_CHUNK = 1 << 20


def decode(
    content: bytes,
    content_type: str | None = None,
    *,
    request: Message | None = None,
    hash_attachments: bool = True,
) -> Message:
    """Decode one HTTP body.  ``request`` (the decoded request this body
    answers) lets a fault or response inherit its operation."""
    try:
        return _decode(bytes(content), content_type, request, hash_attachments)
    except Exception as exc:  # noqa: BLE001 - decode must never raise on input
        return Message(
            protocol="not-soap",
            findings=(finding("decode.internal", f"decoder failed: {exc!r}"),),
        )


def _decode(
    body: bytes, content_type: str | None, request: Message | None, hash_attachments: bool
) -> Message:
    media = ""
    if content_type:
        media, _ = mtom.content_type_params(content_type)
    findings: list[Finding] = []
    parts: mtom.Multipart | None = None
    xml = body
    if media == "multipart/related":
        parts = mtom.split(body, content_type or "")
        findings.extend(parts.findings)
        if parts.root is not None:
            xml = body[parts.root.start : parts.root.end]
            root_type = parts.root.content_type
            media = mtom.content_type_params(root_type)[0] if root_type else ""
        elif after_prolog(body[:4096]) is not None:
            parts = None  # labelled multipart, sent as plain XML: read it as that
        else:
            return Message(protocol="not-soap", findings=tuple(findings))
    walked = shapes.walked(xml) if shapes.ENABLED else None
    if walked is None:
        root, early = parse(xml, media, keep_blank=False)
        findings.extend(early)
        if root is None:
            protocol: Protocol = "soap" if looks_like_envelope(xml) else "not-soap"
            return Message(protocol=protocol, findings=tuple(findings))
        ns, local = split_tag(root.tag) if isinstance(root.tag, str) else ("", "")
        if local == "Envelope" and ns not in (SOAP12, SOAP11):
            findings.append(_unknown_envelope(ns))
            return Message(protocol="soap", findings=tuple(findings))
        if local != "Envelope":
            if media in (binding.SOAP12_MEDIA, binding.XOP_MEDIA):
                findings.append(finding(
                    "soap.not-an-envelope",
                    f"a body sent as {media} whose root element is {local or '?'!r}, not a SOAP "
                    "Envelope; everything sent as SOAP is an Envelope"))
            return Message(protocol="not-soap", findings=tuple(findings))
        walked = walk_envelope(root, ns, "1.2" if ns == SOAP12 else "1.1",
                                xml.count(b"=") >= MANY_ATTRIBUTES)
        if not early and shapes.ENABLED:
            shapes.learn(xml, root, walked)
    return _finish(walked, findings, parts, body, request, hash_attachments, content_type)


def _finish(
    walked: Walked,
    findings: list[Finding],
    parts: mtom.Multipart | None,
    raw: bytes,
    request: Message | None,
    hash_attachments: bool,
    content_type: str | None,
) -> Message:
    """The Message from a walked envelope: classified, attachments read,
    checked.  ``findings`` are those found before the walk (MTOM, parsing)."""
    findings.extend(walked.early)
    walk, addr = walked.walk, walked.addr
    action = addr.get("Action") or None
    protocol, kind, operation, expected_body = _classify(
        action, walked.body_name, walked.body_ns, walked.fault, request)
    attachments = _attachments(parts, raw, walk, findings, hash_attachments)
    job_token = normalize_guid(walk.job_token) if walk.job_token else None
    fields = walked.fields
    if protocol == "ws-scan":
        fields = wsscan.normalize(fields)
    message = Message(
        protocol=protocol,
        kind=kind,
        operation=operation,
        action=action,
        message_id=addr.get("MessageID") or None,
        relates_to=addr.get("RelatesTo") or None,
        to=addr.get("To") or None,
        reply_to=addr.get("ReplyTo") or None,
        job_token=job_token,
        soap_version=walked.soap_version,
        addressing=walked.addressing,
        fields=fields,
        headers=walked.headers,
        namespaces=walk.namespaces,
        fault=walked.fault,
        attachments=attachments,
        extensions=tuple(walk.extensions),
        findings=tuple(findings) + tuple(walk.findings),
    )
    found = tuple(checks.check(message, expected_body, walked.body_ns, walk.leaves))
    if protocol == "ws-scan":
        # WS-Scan has its own fault table; the WS-DSP one would misjudge its subcodes.
        found = tuple(f for f in found if f.code not in _DSP_FAULT_CODES)
        found += tuple(scanchecks.check(message, walked.body_ns))
    found += tuple(binding.check_package(message, content_type, parts, walk.includes))
    return message.with_findings(found)


_DSP_FAULT_CODES = frozenset({"fault.unknown-subcode", "fault.code-mismatch"})


def _unknown_envelope(ns: str) -> Finding:
    meant = checks.meant_namespace(ns) or SOAP12
    return finding("soap.unknown-envelope-namespace",
                   f"the root element is an Envelope in namespace {ns!r}, which is not SOAP's; "
                   f"probably meant: {meant!r} (a receiver answers a VersionMismatch fault)")


def _classify(
    action: str | None,
    body_name: str | None,
    body_ns: str,
    fault: Fault | None,
    request: Message | None,
) -> tuple[Protocol, Kind, str | None, str | None]:
    """(protocol, kind, operation, body element the action calls for)."""
    if fault is not None or (action in names.FAULT_ACTIONS):
        protocol: Protocol = "soap"
        if request is not None and request.protocol != "not-soap":
            protocol = request.protocol
        elif fault is not None and fault.subcode_namespace == DSP:
            protocol = "ws-dsp"
        elif fault is not None and fault.subcode_namespace in wsscan.NAMESPACES:
            protocol = "ws-scan"
        return protocol, "fault", request.operation if request else None, "Fault"
    ns, _, name = (action or "").rpartition("/")
    if action and ns == DSP:
        if name in names.OPERATIONS:
            return "ws-dsp", "request", name, names.OPERATIONS[name][0]
        if name.endswith("Response") and name[:-8] in names.OPERATIONS:
            return "ws-dsp", "response", name[:-8], names.OPERATIONS[name[:-8]][1]
        if name in names.EVENTS:
            return "ws-dsp", "event", name, name
        return "ws-dsp", "unknown", name or None, None
    if not action and body_ns == DSP and body_name:
        return _classify_dsp_body(body_name)
    if action and ns == names.WSE:
        if name == "SubscriptionEnd":
            return "ws-eventing", "event", name, name
        base = name[:-8] if name.endswith("Response") else name
        kind: Kind = "response" if base != name else "request"
        return "ws-eventing", kind if base in names.EVENTING_OPS else "unknown", base, name
    if action and ns == names.WXF:
        base = name[:-8] if name.endswith("Response") else name
        return "ws-transfer", "response" if base != name else "request", base, None
    if action and ns == names.WSD:
        for req, resp in names.DISCOVERY_REQUESTS.items():
            if name == req:
                return "ws-discovery", "request", req, req
            if name == resp:
                return "ws-discovery", "response", req, resp
        if name in names.DISCOVERY_ANNOUNCEMENTS:
            return "ws-discovery", "event", name, name
        return "ws-discovery", "unknown", name or None, None
    scan = wsscan.classify(action, body_name, body_ns)
    if scan is not None:
        return ("ws-scan", *scan)
    operation = name or body_name
    if operation and operation.endswith("Response"):
        return "soap", "response", operation[:-8], None
    if operation and operation.endswith("Event"):
        return "soap", "event", operation, None
    if operation:
        return "soap", "request" if action else "unknown", operation, None
    return "soap", "unknown", None, None


def _classify_dsp_body(body_name: str) -> tuple[Protocol, Kind, str | None, str | None]:
    for op, (req, resp) in names.OPERATIONS.items():
        if body_name == req:
            return "ws-dsp", "request", op, req
        if body_name == resp:
            return "ws-dsp", "response", op, resp
    if body_name in names.EVENTS:
        return "ws-dsp", "event", body_name, body_name
    return "ws-dsp", "unknown", None, None


def _attachments(
    parts: mtom.Multipart | None,
    raw: bytes,
    walk: Walk,
    findings: list[Finding],
    hash_attachments: bool,
) -> tuple[Attachment, ...]:
    if parts is None:
        for href in walk.includes:
            findings.append(
                finding("mtom.attachment-missing", f"xop:Include {href!r} but the body is not multipart/related")
            )
        return ()
    out: list[Attachment] = []
    for part in parts.attachments:
        cid = part.content_id or ""
        view = memoryview(raw)[part.start : part.end]
        digest = ""
        if hash_attachments:
            h = hashlib.sha256()
            for off in range(0, len(view), _HASH_CHUNK):
                h.update(view[off : off + _HASH_CHUNK])
            digest = h.hexdigest()
        out.append(
            Attachment(
                content_id=cid,
                content_type=part.content_type,
                size=part.end - part.start,
                sha256=digest,
                sniffed_format=sniff_format(view),
                span=(part.start, part.end),
                referenced=any(mtom.href_matches(h, cid) for h in walk.includes),
            )
        )
    for href in walk.includes:
        if not any(mtom.href_matches(href, a.content_id) for a in out):
            findings.append(
                finding("mtom.attachment-missing", f"xop:Include {href!r} matches no MIME part")
            )
    return tuple(out)


