"""The one hardened XML parser of wsdsp.

Entity expansion, DTD loading and network access are off; a document type
declaration is refused before parsing (SOAP forbids one, and it is how XML
bombs and XXE arrive); size is bounded.  Problems become Findings, never
exceptions.

Their finding codes are in ``codes.CODES``.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from lxml import etree

from . import mtom
from .codes import finding
from .messages import Finding

MAX_XML_BYTES = 16 * 1024 * 1024
XML_NS = "http://www.w3.org/XML/1998/namespace"

_local = threading.local()


def parser(recover: bool, keep_blank: bool = True) -> etree.XMLParser:
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


def split_tag(tag: str) -> tuple[str, str]:
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


def after_prolog(xml: bytes) -> str | None:
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


def parse(xml: bytes, media: str, *, keep_blank: bool = True) -> tuple[Any, list[Finding]]:
    if len(xml) > MAX_XML_BYTES:
        # Only the head is walked; a prolog may end in more white space than
        # that, and XML behind it is too large, not "not XML".
        if after_prolog(xml[:4096]) is None and not _element_after_space(xml):
            return _not_xml(media)
        return None, [
            finding("xml.too-large", f"XML of {len(xml)} bytes is over the {MAX_XML_BYTES}-byte limit; not parsed")
        ]
    start = after_prolog(xml)
    if start is None:
        return _not_xml(media)
    if start == "doctype":
        return None, [finding("xml.dtd-forbidden", _DTD_REFUSED)]
    problems: list[Finding] = []
    try:
        root = etree.fromstring(xml, parser(False, keep_blank))
    except etree.XMLSyntaxError as exc:
        problems.append(finding("xml.malformed", f"malformed XML: {exc.msg or exc}"))
        try:
            root = etree.fromstring(xml, parser(True, keep_blank))
        except etree.XMLSyntaxError:
            root = None
    if root is not None:
        # Second line of defence, for encodings the prolog walk cannot read.
        info = root.getroottree().docinfo
        if info.internalDTD is not None or info.externalDTD is not None:
            return None, [finding("xml.dtd-forbidden", _DTD_REFUSED)]
    return root, problems


def _element_after_space(xml: bytes) -> bool:
    end = _SPACE.match(xml, xml.rfind(b"?>", 0, 4096) + 2 if xml[:5] == b"<?xml" else 0)
    return end is not None and xml[end.end() : end.end() + 1] == b"<"


def _not_xml(media: str) -> tuple[Any, list[Finding]]:
    if "xml" in media:
        return None, [finding("xml.not-xml", "body declared as XML does not start with '<'")]
    return None, []


def parse_envelope(content: bytes, content_type: str | None = None) -> Any:
    """The lxml root element of a body (of its MTOM root part for a
    multipart/related body), parsed with decode's hardened parser; None unless
    it is well-formed XML.  For callers that need the tree itself (XPath)."""
    span = mtom.xml_span(content, content_type)
    if span is None:
        return None
    media = mtom.content_type_params(content_type)[0] if content_type else ""
    xml = content[span[0] : span[1]] if span != (0, len(content)) else content
    root, problems = parse(xml, media)
    return None if problems else root


_ENVELOPE_NAMES = tuple(
    "Envelope".encode(codec) for codec in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


def looks_like_envelope(xml: bytes) -> bool:
    """Whether XML we could not (or would not) parse names an Envelope: it
    is then SOAP gone wrong rather than something else.  The prolog may be
    long (a DTD behind a big comment), so all of the bounded XML is searched."""
    return any(xml.find(name, 0, MAX_XML_BYTES) >= 0 for name in _ENVELOPE_NAMES)

