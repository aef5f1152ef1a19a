"""decode(bytes) -> Message and encode(Message) -> bytes: the one place that
parses WS-DSP XML and the one place that builds it.

decode never raises on bad input.  The XML parser runs with entity expansion,
DTD loading and network access off; a document type declaration is refused
before parsing (SOAP forbids one, and it is how XML bombs and XXE arrive);
size and depth are bounded.  What cannot be decoded becomes a Finding.

Codes found here (conformance codes are in checks):
  xml.not-xml, xml.dtd-forbidden, xml.too-large, xml.malformed,
  soap.version-1.1, wsa.version-2005-08, wsa.duplicate-header,
  dsp.invalid-boolean, dsp.invalid-integer, mtom.attachment-missing,
  mtom.no-boundary, mtom.boundary-not-found, mtom.truncated,
  mtom.unterminated, mtom.too-many-parts, mtom.root-not-found (from mtom),
  decode.internal (a bug in this decoder, never bad input)
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from . import checks, mtom, names, shapes
from .errors import LocalProtocolError
from .messages import Attachment, Fault, Finding, Kind, Message, Protocol
from .names import DSP, SOAP11, SOAP12, WSA, WSA10, XOP
from .sniff import sniff_format
from .values import normalize_guid, parse_bool, parse_int

MAX_XML_BYTES = 16 * 1024 * 1024
XML_NS = "http://www.w3.org/XML/1998/namespace"
_PREFIX_OF = {uri: prefix for prefix, uri in names.PREFIXES.items()}
_PREFIX_OF[XML_NS] = "xml"
_QNAME_VALUED = frozenset({"Value", "Name"})
_QNAME_NAMESPACES = frozenset({DSP, SOAP11, SOAP12})
_HASH_CHUNK = 1 << 20

_local = threading.local()


def _parser(recover: bool, keep_blank: bool = True) -> etree.XMLParser:
    """The hardened parser (one per thread and flavour).  decode drops
    blank text nodes (it strips all text anyway, and a pretty-printed
    envelope parses faster without them); trees handed out keep them."""
    key = ("recover" if recover else "strict") + ("" if keep_blank else "-noblank")
    parser = getattr(_local, key, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            collect_ids=False,
            recover=recover,
            remove_blank_text=not keep_blank,
        )
        # lxml asks its resolvers before libxml2 opens any external entity;
        # with collect_ids=False libxml2 would otherwise read a file:// parameter
        # entity even though load_dtd is off.  Nothing external is ever read.
        parser.resolvers.add(_NothingExternal())
        setattr(_local, key, parser)
    return parser


class _NothingExternal(etree.Resolver):
    # lxml calls resolve(url, public_id, context); lxml-stubs omit the context.
    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:  # type: ignore[override]
        return self.resolve_string("", context, base_url=None)


_TAGS: dict[str, tuple[str, str]] = {}


def _split(tag: str) -> tuple[str, str]:
    hit = _TAGS.get(tag)
    if hit is None:
        if tag[:1] == "{":
            ns, _, local = tag[1:].partition("}")
            hit = (ns, local)
        else:
            hit = ("", tag)
        if len(_TAGS) < 4096:
            _TAGS[tag] = hit
    return hit


# --------------------------------------------------------------------- decode


@dataclass(slots=True)
class _Walk:
    """What one walk over the body collects beside the fields."""

    namespaces: dict[str, str] = field(default_factory=dict)
    extensions: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    dialects: set[str] = field(default_factory=set)
    includes: list[str] = field(default_factory=list)
    leaves: list[tuple[str, str]] = field(default_factory=list)  # for checks.VALUE_CHECKED
    job_token: str | None = None
    #: The XML may hold an element with very many attributes (see _items).
    many_attributes: bool = False


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
            findings=(Finding("error", "decode.internal", f"decoder failed: {exc!r}"),),
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
        elif _after_prolog(body[:4096]) is not None:
            parts = None  # labelled multipart, sent as plain XML: read it as that
        else:
            return Message(protocol="not-soap", findings=tuple(findings))
    walked = shapes.walked(xml) if shapes.ENABLED else None
    if walked is None:
        root, early = _parse(xml, media, keep_blank=False)
        findings.extend(early)
        if root is None:
            protocol: Protocol = "soap" if _looks_like_envelope(xml) else "not-soap"
            return Message(protocol=protocol, findings=tuple(findings))
        ns, local = _split(root.tag) if isinstance(root.tag, str) else ("", "")
        if local != "Envelope" or ns not in (SOAP12, SOAP11):
            return Message(protocol="not-soap", findings=tuple(findings))
        walked = _walk_envelope(root, ns, "1.2" if ns == SOAP12 else "1.1",
                                xml.count(b"=") >= _MANY_ATTRIBUTES)
        if not early and shapes.ENABLED:
            shapes.learn(xml, root, walked)
    return _finish(walked, findings, parts, body, request, hash_attachments)


_DTD_REFUSED = (
    "document type declaration refused (SOAP forbids DTDs; entities were not expanded)"
)
#: (leading bytes, codec) of documents that are not ASCII-compatible; UTF-32
#: before UTF-16, whose BOM starts the same way.
_WIDE = (
    (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
    (b"\x00<", "utf-16-be"), (b"<\x00", "utf-16-le"),
)
_PROLOG_ITEM = re.compile(rb"[ \t\r\n]*(?:<\?.*?\?>|<!--.*?-->)", re.S)
_PROLOG_ITEM_TEXT = re.compile(r"[ \t\r\n]*(?:<\?.*?\?>|<!--.*?-->)", re.S)
_SPACE = re.compile(rb"[ \t\r\n]*")
_SPACE_TEXT = re.compile(r"[ \t\r\n]*")
_NOT_AN_ELEMENT = frozenset({b"?", b"!", b"\x00", b""})


def _after_prolog(xml: bytes) -> str | None:
    """What follows the prolog (XML declaration, comments, processing
    instructions, white space): "doctype", "element", or None when the
    document does not go on with '<' at all (not XML).

    The whole prolog is walked, however long, so a DTD cannot hide behind a
    long comment; wide (UTF-16/32) documents are decoded for the walk."""
    if xml[:1] == b"<" and xml[1:2] not in _NOT_AN_ELEMENT:
        return "element"  # no prolog at all: the usual envelope
    if xml[:1] != b"<" or xml[1:2] == b"\x00":
        for magic, codec in _WIDE:
            if xml.startswith(magic):
                text = xml.decode(codec, errors="replace").lstrip("\ufeff")
                pos = _walk_prolog(text, _PROLOG_ITEM_TEXT, _SPACE_TEXT)
                if text.startswith("<!DOCTYPE", pos):
                    return "doctype"
                return "element" if text.startswith("<", pos) else None
    start = 3 if xml[:3] == b"\xef\xbb\xbf" else 0
    pos = _walk_prolog(xml, _PROLOG_ITEM, _SPACE, start)
    if xml.startswith(b"<!DOCTYPE", pos):
        return "doctype"
    return "element" if xml.startswith(b"<", pos) else None


def _walk_prolog(doc: Any, item: re.Pattern[Any], space: re.Pattern[Any], pos: int = 0) -> int:
    while (found := item.match(doc, pos)) is not None:
        pos = found.end()
    end: int = space.match(doc, pos).end()  # type: ignore[union-attr]  # matches empty
    return end


def _parse(xml: bytes, media: str, *, keep_blank: bool = True) -> tuple[Any, list[Finding]]:
    if len(xml) > MAX_XML_BYTES:
        # Only the head is walked; a prolog may end in more white space than
        # that, and XML behind it is too large, not "not XML".
        if _after_prolog(xml[:4096]) is None and not _element_after_space(xml):
            return _not_xml(media)
        return None, [
            Finding("error", "xml.too-large",
                    f"XML of {len(xml)} bytes is over the {MAX_XML_BYTES}-byte limit; not parsed")
        ]
    start = _after_prolog(xml)
    if start is None:
        return _not_xml(media)
    if start == "doctype":
        return None, [Finding("error", "xml.dtd-forbidden", _DTD_REFUSED)]
    problems: list[Finding] = []
    try:
        root = etree.fromstring(xml, _parser(False, keep_blank))
    except etree.XMLSyntaxError as exc:
        problems.append(Finding("error", "xml.malformed", f"malformed XML: {exc.msg or exc}"))
        try:
            root = etree.fromstring(xml, _parser(True, keep_blank))
        except etree.XMLSyntaxError:
            root = None
    if root is not None:
        # Second line of defence, for encodings the prolog walk cannot read.
        info = root.getroottree().docinfo
        if info.internalDTD is not None or info.externalDTD is not None:
            return None, [Finding("error", "xml.dtd-forbidden", _DTD_REFUSED)]
    return root, problems


def _element_after_space(xml: bytes) -> bool:
    end = _SPACE.match(xml, xml.rfind(b"?>", 0, 4096) + 2 if xml[:5] == b"<?xml" else 0)
    return end is not None and xml[end.end() : end.end() + 1] == b"<"


def _not_xml(media: str) -> tuple[Any, list[Finding]]:
    if "xml" in media:
        return None, [Finding("error", "xml.not-xml", "body declared as XML does not start with '<'")]
    return None, []


def parse_envelope(content: bytes, content_type: str | None = None) -> Any:
    """The lxml root element of a body (of its MTOM root part for a
    multipart/related body), parsed with decode's hardened parser; None unless
    it is well-formed XML.  For callers that need the tree itself (XPath)."""
    media = mtom.content_type_params(content_type)[0] if content_type else ""
    xml = content
    if media == "multipart/related":
        root_part = mtom.split(content, content_type or "").root
        if root_part is None:
            return None
        xml = content[root_part.start : root_part.end]
    root, problems = _parse(xml, media)
    return None if problems else root


_ENVELOPE_NAMES = tuple(
    "Envelope".encode(codec) for codec in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


def _looks_like_envelope(xml: bytes) -> bool:
    """Whether XML we could not (or would not) parse names an Envelope: it
    is then SOAP gone wrong rather than something else.  The prolog may be
    long (a DTD behind a big comment), so all of the bounded XML is searched."""
    return any(xml.find(name, 0, MAX_XML_BYTES) >= 0 for name in _ENVELOPE_NAMES)


@dataclass(slots=True)
class _Walked:
    """What the walk over one envelope found: everything decode needs from
    the XML, before classification, attachments and checks.  The shape cache
    (wsdsp.shapes) builds the same from a message of a shape seen before."""

    soap_ns: str
    soap_version: str
    early: list[Finding]  # SOAP 1.1, duplicate and 2005/08 addressing headers
    addr: dict[str, str]
    addressing: str | None
    headers: dict[str, Any]
    fields: dict[str, Any]
    body_name: str | None
    body_ns: str
    fault: Fault | None
    walk: _Walk


def _walk_envelope(root: Any, soap_ns: str, soap_version: str, many_attributes: bool) -> _Walked:
    early: list[Finding] = []
    if soap_version == "1.1":
        early.append(
            Finding("warning", "soap.version-1.1", "SOAP 1.1 envelope; WS-DSP uses SOAP 1.2",
                    names.SPEC_REF + "#namespaces")
        )
    walk = _Walk(many_attributes=many_attributes)
    addr: dict[str, str] = {}
    addressing: str | None = None
    headers: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    body_el = None
    body_tag = ""
    for child in root:
        tag = child.tag
        if tag.__class__ is not str:
            continue
        cns, clocal = _split(tag)
        if cns == soap_ns and clocal == "Header":
            for block in child:
                tag = block.tag
                if tag.__class__ is not str:
                    continue
                bns, blocal = _split(tag)
                if bns in (WSA, WSA10) and blocal in names.ADDRESSING_HEADERS:
                    addressing = addressing or ("2004/08" if bns == WSA else "2005/08")
                    if blocal in addr:  # the first one counts, as for a receiver
                        early.append(
                            Finding("error", "wsa.duplicate-header",
                                    f"more than one wsa:{blocal} header; the first one is used",
                                    names.SPEC_REF + "#addressing-rules-that-a-checker-can-verify")
                        )
                        continue
                    if blocal == "ReplyTo":
                        addr[blocal] = _epr_address(block)
                    else:
                        addr[blocal] = (block.text or "").strip()
                    continue
                path = "Header/" + blocal
                walk.namespaces[path] = bns
                if bns not in names.KNOWN_NAMESPACES:
                    walk.extensions.append(path)
                _put(headers, blocal, _convert(block, path, bns, walk), bns)
        elif cns == soap_ns and clocal == "Body":
            for el in child:
                tag = el.tag
                if tag.__class__ is str:
                    body_el, body_tag = el, tag
                    break
    if addressing == "2005/08":
        early.append(
            Finding("warning", "wsa.version-2005-08",
                    "WS-Addressing 1.0 (2005/08) namespace; WS-DSP uses the 2004/08 namespace",
                    names.SPEC_REF + "#namespaces")
        )
    fault: Fault | None = None
    body_name: str | None = None
    body_ns = ""
    if body_el is not None:
        body_ns, body_name = _split(body_tag)
        walk.namespaces[body_name] = body_ns
        if body_ns not in names.KNOWN_NAMESPACES:
            walk.extensions.append(body_name)
        walk.leaves = []  # only the body's leaves are checked
        decoded = _convert(body_el, body_name, body_ns, walk)
        fields[body_name] = decoded if decoded != "" else {}
        if body_name == "Fault" and body_ns == soap_ns:
            fault = _fault(body_el, soap_ns)
    return _Walked(soap_ns, soap_version, early, addr, addressing, headers, fields, body_name,
                   body_ns, fault, walk)


def _finish(
    walked: _Walked,
    findings: list[Finding],
    parts: mtom.Multipart | None,
    raw: bytes,
    request: Message | None,
    hash_attachments: bool,
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
        fields=walked.fields,
        headers=walked.headers,
        namespaces=walk.namespaces,
        fault=walked.fault,
        attachments=attachments,
        extensions=tuple(walk.extensions),
        findings=tuple(findings) + tuple(walk.findings),
    )
    return message.with_findings(
        tuple(checks.check(message, expected_body, walked.body_ns, walk.leaves)))


def _epr_address(el: Any) -> str:
    for sub in el:
        tag = sub.tag
        if tag.__class__ is str and _split(tag)[1] == "Address":
            return (sub.text or "").strip()
    return (el.text or "").strip()


_REPEATING_NAMESPACES = frozenset({DSP, names.PSP, names.FILESHARE, names.SHAREPOINT, names.EMAIL})


def _put(out: dict[str, Any], key: str, value: Any, ns: str) -> None:
    if key in names.REPEATED and ns in _REPEATING_NAMESPACES:
        existing = out.get(key)
        if isinstance(existing, list):
            existing.append(value)
        elif key in out:  # a same-named element of another namespace came first
            out[key] = [existing, value]
        else:
            out[key] = [value]
    elif key in out:
        existing = out[key]
        if isinstance(existing, list):
            existing.append(value)
        else:
            out[key] = [existing, value]
    else:
        out[key] = value


#: Leaf names whose text needs more than strip(): typed, QName or remembered.
_SPECIAL_LEAVES = frozenset(
    names.BOOLEANS | names.INTEGERS | _QNAME_VALUED | {"Dialect", "JobToken"}
)
_BOOLEAN_TEXT = {"true": True, "false": False}
#: tag -> (namespace, local name, always a list, special leaf)
_TAG_INFO: dict[str, tuple[str, str, bool, bool]] = {}


def _tag_info(tag: str) -> tuple[str, str, bool, bool]:
    ns, local = _split(tag)
    special = local in _SPECIAL_LEAVES and not (local == "JobToken" and _is_vendor(ns))
    info = (ns, local, local in names.REPEATED and ns in _REPEATING_NAMESPACES, special)
    if len(_TAG_INFO) < 4096:
        _TAG_INFO[tag] = info
    return info


def _is_vendor(ns: str) -> bool:
    """A vendor's namespace (a vendor's JobToken element is not the job's)."""
    return bool(ns) and ns not in names.KNOWN_NAMESPACES


def _convert(el: Any, path: str, ns: str, walk: _Walk) -> Any:
    """An element as a JSON-like value: a typed scalar for a leaf (no child
    elements, no attributes), else a dict of "@attribute", child local names
    and "#text"."""
    local = path.rpartition("/")[2]
    items = _items(el) if walk.many_attributes else el.items()
    out: dict[str, Any] = {}
    if items:
        _attributes(out, items, el, path, ns, local, walk)
    if len(el) and _children(el, out, path, ns, walk):
        return out
    if not items:
        return _leaf(local, el, walk, path)
    text = (el.text or "").strip()
    if text:
        out["#text"] = text
    return out


def _children(el: Any, out: dict[str, Any], path: str, ns: str, walk: _Walk) -> int:
    """Convert the child elements of ``el`` into ``out``; how many there were.

    This loop is most of decode's own time, so the common cases are inline:
    plain leaves take no call and no path string, containers recurse here
    directly.  Attributes, typed and remembered leaves, and elements with
    comments in them go through the helpers."""
    namespaces = walk.namespaces
    known = names.KNOWN_NAMESPACES
    tag_info = _TAG_INFO
    leaves = walk.leaves
    value_checked = checks.VALUE_CHECKED
    booleans = names.BOOLEANS
    many_attributes = walk.many_attributes
    found = 0
    for child in el:
        tag = child.tag
        if tag.__class__ is not str:  # comment, processing instruction
            continue
        found += 1
        cns, local, always, special = tag_info.get(tag) or _tag_info(tag)
        if cns != ns:
            cpath = path + "/" + local
            namespaces[cpath] = cns
            if cns not in known and cns not in walk.dialects:
                walk.extensions.append(cpath)
        value: Any
        items = _items(child) if many_attributes else child.items()
        if len(child):
            cpath = path + "/" + local
            sub: dict[str, Any] = {}
            if items:
                _attributes(sub, items, child, cpath, cns, local, walk)
            if _children(child, sub, cpath, cns, walk):
                value = sub
            elif items:  # attributes and only comments or processing instructions
                text = (child.text or "").strip()
                if text:
                    sub["#text"] = text
                value = sub
            else:  # a leaf with a comment in it
                value = _leaf(local, child, walk, cpath)
        elif items:
            value = _convert(child, path + "/" + local, cns, walk)
        elif special:
            text = child.text
            text = text.strip() if text else ""
            if local in booleans and text in _BOOLEAN_TEXT:
                value = _BOOLEAN_TEXT[text]
            elif local == "Dialect" and text:
                walk.dialects.add(text)
                value = text
            else:  # QNames, integers, the JobToken, odd booleans
                value = _leaf(local, child, walk, path + "/" + local)
        else:
            text = child.text
            value = text.strip() if text else ""
            if local in value_checked:
                leaves.append((local, value))
        if always:
            existing = out.get(local)
            if existing is None:
                out[local] = [value]
                continue
            if existing.__class__ is list:
                existing.append(value)
                continue
        elif local not in out:
            out[local] = value
            continue
        _put(out, local, value, cns)
    return found


#: lxml's ``items()`` looks each attribute's value up by name, quadratic in
#: their number (50,000 attributes, 540 KB, took 19 s).  XML with this many
#: '=' in it could hold such an element and is read through XPath instead.
_MANY_ATTRIBUTES = 1024


def _items(el: Any) -> list[tuple[str, str]]:
    """(name, value) of each attribute of ``el``, in linear time."""
    return [(str(value.attrname), str(value)) for value in el.xpath("@*")]


def _attributes(
    out: dict[str, Any], items: list[tuple[str, str]], el: Any, path: str, ns: str, local: str,
    walk: _Walk,
) -> None:
    for key, value in items:
        ans, alocal = _split(key)
        if ans:
            walk.namespaces[f"{path}/@{alocal}"] = ans
            if ans not in names.KNOWN_NAMESPACES and ans != XML_NS and ans not in walk.dialects:
                walk.extensions.append(f"{path}/@{alocal}")
        out["@" + alocal] = _typed(alocal, _qname_text(alocal, value, el), walk, path)
    if ns == XOP and local == "Include":
        walk.includes.append(el.get("href", ""))


def _leaf(local: str, el: Any, walk: _Walk, path: str) -> Any:
    text = "".join(t for t in el.itertext()) if len(el) else (el.text or "")
    text = text.strip()
    if local in _QNAME_VALUED:
        text = _qname_text(local, text, el)
    if local == "Dialect" and text:
        walk.dialects.add(text)
    elif local == "JobToken" and walk.job_token is None and not _is_vendor(_split(el.tag)[0]):
        walk.job_token = text
    elif local in checks.VALUE_CHECKED:
        walk.leaves.append((local, text))
    return _typed(local, text, walk, path)


def _typed(local: str, text: str, walk: _Walk, path: str) -> Any:
    if local in names.BOOLEANS:
        value = _BOOLEAN_TEXT.get(text)
        if value is None:
            value = parse_bool(text)
        if value is None:
            walk.findings.append(
                Finding("error", "dsp.invalid-boolean", f"{path}: {text!r} is not an xs:boolean")
            )
            return text
        return value
    if local in names.INTEGERS:
        number = parse_int(text)
        if number is None:
            walk.findings.append(
                Finding("error", "dsp.invalid-integer", f"{path}: {text!r} is not an integer")
            )
            return text
        return number
    return text


def _qname_text(local: str, text: str, el: Any) -> str:
    """QName values ("x:JobStatus") rewritten to the usual prefix, so they
    compare and re-encode whatever prefix the sender chose."""
    if local not in _QNAME_VALUED or "/" in text or " " in text or not text:
        return text
    prefix, sep, name = text.partition(":")
    if sep:
        uri = el.nsmap.get(prefix)
    elif _split(el.tag)[0] in _QNAME_NAMESPACES:
        # Where Name/Value are QNames, an unprefixed one is in the default
        # namespace (a sender may make dsp the default and write "JobStatus").
        uri, name = el.nsmap.get(None), text
    else:
        return text
    usual = _PREFIX_OF.get(uri) if uri else None
    if uri in (SOAP11, SOAP12):
        usual = "soap"
    return f"{usual}:{name}" if usual else text


def _fault(el: Any, soap_ns: str) -> Fault:
    def first(parent: Any, local: str) -> Any:
        if parent is None:
            return None
        for c in parent:
            if isinstance(c.tag, str) and _split(c.tag)[1] == local:
                return c
        return None

    def qname(node: Any) -> tuple[str | None, str | None]:
        if node is None:
            return None, None
        text = (node.text or "").strip()
        prefix, sep, name = text.rpartition(":")
        return (node.nsmap.get(prefix or None) if sep or prefix else None), name or None

    if soap_ns == SOAP11:
        _, code = qname(first(el, "faultcode"))
        reason_el = first(el, "faultstring")
        detail_el = first(el, "detail")
        return Fault(
            code=code or "",
            reason=(reason_el.text or "").strip() if reason_el is not None else None,
            detail=_text_of(detail_el),
        )
    code_el = first(el, "Code")
    _, code = qname(first(code_el, "Value"))
    sub_ns, subcode = qname(first(first(code_el, "Subcode"), "Value"))
    reason = None
    reason_el = first(el, "Reason")
    if reason_el is not None:
        texts = [t for t in reason_el if isinstance(t.tag, str)]
        english = [t for t in texts if (t.get(f"{{{XML_NS}}}lang") or "").lower().startswith("en")]
        chosen = (english or texts or [None])[0]
        reason = (chosen.text or "").strip() if chosen is not None else None
    return Fault(
        code=code or "",
        subcode=subcode,
        reason=reason,
        detail=_text_of(first(el, "Detail")),
        subcode_namespace=sub_ns,
    )


def _text_of(el: Any) -> str | None:
    if el is None:
        return None
    text = " ".join(" ".join(el.itertext()).split())
    return text or None


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
    walk: _Walk,
    findings: list[Finding],
    hash_attachments: bool,
) -> tuple[Attachment, ...]:
    if parts is None:
        for href in walk.includes:
            findings.append(
                Finding("error", "mtom.attachment-missing",
                        f"xop:Include {href!r} but the body is not multipart/related",
                        names.SPEC_REF + "#transport")
            )
        return ()
    out: list[Attachment] = []
    for part in parts.parts:
        if part is parts.root:
            continue
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
                Finding("error", "mtom.attachment-missing",
                        f"xop:Include {href!r} matches no MIME part", names.SPEC_REF + "#transport")
            )
    return tuple(out)


# --------------------------------------------------------------------- encode


@dataclass(frozen=True, slots=True)
class Encoded:
    """An HTTP body and the Content-Type to send it with."""

    content: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class AttachmentData:
    content_id: str
    data: bytes
    content_type: str = "application/octet-stream"


def encode(message: Message, attachments: tuple[AttachmentData, ...] = ()) -> Encoded:
    """Build the XML (and MTOM package, when attachments are given)."""
    if message.protocol == "not-soap":
        raise LocalProtocolError("cannot encode a not-soap message", hint="build a SOAP Message")
    soap_ns = SOAP11 if message.soap_version == "1.1" else SOAP12
    wsa_ns = WSA10 if message.addressing == "2005/08" else WSA
    # dsp is always declared: QName texts (fault subcodes, element names) use it.
    # (Any keys: lxml-stubs do not know that None names the default namespace.)
    nsmap: dict[Any, str] = {"soap": soap_ns, "wsa": wsa_ns, "dsp": DSP}
    used = set(message.namespaces.values())
    sub_ns = message.fault.subcode_namespace if message.fault else None
    if sub_ns and sub_ns not in _PREFIX_OF:
        nsmap["vnd"] = sub_ns
    for prefix, uri in names.PREFIXES.items():
        if uri in used and uri not in nsmap.values():
            nsmap[prefix] = uri
    env = etree.Element(f"{{{soap_ns}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(env, f"{{{soap_ns}}}Header")
    for local, value in (
        ("To", message.to),
        ("Action", message.action),
        ("MessageID", message.message_id),
        ("RelatesTo", message.relates_to),
    ):
        if value is not None:
            etree.SubElement(header, f"{{{wsa_ns}}}{local}").text = value
    if message.reply_to is not None:
        reply = etree.SubElement(header, f"{{{wsa_ns}}}ReplyTo")
        etree.SubElement(reply, f"{{{wsa_ns}}}Address").text = message.reply_to
    for local, value in message.headers.items():
        path = "Header/" + local
        _build(header, local, value, message.namespaces.get(path, soap_ns), path, message)
    body = etree.SubElement(env, f"{{{soap_ns}}}Body")
    for local, value in message.fields.items():
        _build(body, local, value, message.namespaces.get(local, soap_ns), local, message)
    xml = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    media = "text/xml" if soap_ns == SOAP11 else "application/soap+xml"
    if not attachments:
        return Encoded(xml, f"{media}; charset=utf-8")
    return _package(xml, media, attachments)


def _build(parent: Any, local: str, value: Any, ns: str, path: str, message: Message) -> None:
    if isinstance(value, list):
        for item in value:
            _build(parent, local, item, ns, path, message)
        return
    el = etree.SubElement(parent, f"{{{ns}}}{local}" if ns else local)
    if not isinstance(value, Mapping):
        el.text = _text(value)
        return
    for key, item in value.items():
        if key == "#text":
            el.text = _text(item)
        elif key.startswith("@"):
            aname = key[1:]
            ans = message.namespaces.get(f"{path}/@{aname}")
            el.set(f"{{{ans}}}{aname}" if ans else aname, _text(item))
        else:
            cpath = f"{path}/{key}"
            _build(el, key, item, message.namespaces.get(cpath, ns), cpath, message)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _package(xml: bytes, media: str, attachments: tuple[AttachmentData, ...]) -> Encoded:
    boundary = f"uuid:{uuid.uuid4()}"
    root_id = f"root.{uuid.uuid4().hex}@dspscope"
    chunks = [
        f"--{boundary}\r\n"
        f'Content-Type: application/xop+xml; charset=utf-8; type="{media}"\r\n'
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{root_id}>\r\n\r\n".encode(),
        xml,
    ]
    for att in attachments:
        chunks.append(
            f"\r\n--{boundary}\r\n"
            f"Content-Type: {att.content_type}\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{att.content_id}>\r\n\r\n".encode()
        )
        chunks.append(att.data)
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        f'start="<{root_id}>"; start-info="{media}"'
    )
    return Encoded(b"".join(chunks), content_type)
