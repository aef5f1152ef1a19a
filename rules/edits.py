"""Body edits a rule asks for: XPath rewrites, WS-Addressing damage and
malformed XML, as pure functions of bytes.

For an MTOM (multipart/related) body only the root part, the envelope, is
edited; the package is put back together around it with one join, so an
image is copied once and its part, boundary and Content-IDs stay valid.
Envelopes are parsed by wsdsp's hardened parser; inserted fragments by one
configured the same way (no entities, no DTD, no network).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lxml import etree

from dspscope.wsdsp import mtom, names
from dspscope.wsdsp.codec import XML_NS, parse_envelope
from dspscope.wsdsp.values import new_message_id

from .spec import Actions, AddressingAction, Edit, MalformedKind

#: The namespace the envelope is moved to by ``malformed: wrong-namespace``.
WRONG_NAMESPACE = "urn:dspscope:not-the-soap-envelope-namespace"
MAX_FRAGMENT = 64 * 1024
_WRAPPER = "dspscope-fragment"
_MARKER = "\ue000dspscope\ue001"
_INVALID_UTF8 = b"\xc3\x28"
_FRAGMENT_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, collect_ids=False,
)


class EditError(Exception):
    """An edit that cannot be made to this body (the body is left as it was)."""


def attribute_name(text: str, prefixes: Mapping[str, str]) -> str:
    """'Name', 'xml:lang' or 'dsp:Name' as an lxml (Clark) attribute name."""
    prefix, sep, local = text.rpartition(":")
    if not _is_ncname(local):
        raise ValueError("not an attribute name; expected NAME or PREFIX:NAME")
    if not sep:
        return local
    if prefix == "xml":
        return f"{{{XML_NS}}}{local}"
    if prefix not in prefixes:
        raise ValueError(f"unknown prefix {prefix!r}; predefined: {', '.join(prefixes)}, xml")
    return f"{{{prefixes[prefix]}}}{local}"


def parse_fragment(text: str) -> list[Any]:
    """The elements of an XML fragment, in which the usual prefixes (dsp,
    psp, wsa, ...) are predefined.  ValueError says what is wrong."""
    if len(text) > MAX_FRAGMENT:
        raise ValueError(f"fragment longer than {MAX_FRAGMENT} characters")
    if "<!" in text.replace("<![CDATA[", "").replace("<!--", ""):
        raise ValueError("declarations (<!DOCTYPE, <!ENTITY) are not allowed in a fragment")
    declarations = " ".join(f'xmlns:{p}="{uri}"' for p, uri in names.PREFIXES.items())
    wrapped = f"<{_WRAPPER} {declarations}>{text}</{_WRAPPER}>".encode()
    try:
        wrapper = etree.fromstring(wrapped, _FRAGMENT_PARSER)
    except etree.XMLSyntaxError as exc:
        problem = re.sub(r",? line \d+, column \d+", "", str(exc.msg or exc)).replace(_WRAPPER, "(end)")
        raise ValueError(f"not well-formed XML ({problem})") from None
    if (wrapper.text or "").strip() or any((c.tail or "").strip() for c in wrapper):
        raise ValueError("text outside elements; a fragment is one or more elements")
    elements = [c for c in wrapper if isinstance(c.tag, str)]
    if not elements:
        raise ValueError("no element; expected e.g. <dsp:Extra>value</dsp:Extra>")
    return elements


def edit_body(content: bytes, content_type: str | None, actions: Actions,
              *, duplicate_id: str | None = None) -> bytes:
    """The body with the rule's envelope edits made (rewrite, addressing,
    malformed, and any other action that edits)."""
    from .registry import Context, plan_of

    edits = plan_of(actions, Context(duplicate_id=duplicate_id)).edits
    return edit_message(content, content_type, edits, duplicate_id)


def edit_message(content: bytes, content_type: str | None, edits: Sequence[Any],
                 duplicate_id: str | None = None) -> bytes:
    """The body with ``edits`` (a Plan's) made to its envelope: the MTOM
    root part only, the other parts kept byte for byte."""
    span = mtom.xml_span(content, content_type)
    if span is None:
        raise EditError("multipart body without a root part to edit")
    start, end = span
    if (start, end) == (0, len(content)):
        return run_edits(content, edits, duplicate_id)
    params = mtom.content_type_params(content_type or "")[1]
    xml = run_edits(content[start:end], edits, duplicate_id)
    if ("--" + params.get("boundary", "")).encode() in xml:
        raise EditError("the edited envelope contains the MIME boundary")
    view = memoryview(content)
    return b"".join((view[:start], xml, view[end:]))


def run_edits(xml: bytes, edits: Sequence[Any], duplicate_id: str | None = None) -> bytes:
    """Parse once, make every edit in order (registry.EnvelopeEdit), serialize once."""
    root = parse_envelope(xml)
    if root is None:
        raise EditError("the body is not well-formed XML, so it cannot be edited")
    changed = 0
    for edit in edits:
        done = edit(root, xml, duplicate_id)
        if isinstance(done, bytes):
            return done
        changed += done
    if not changed:
        return xml
    return _serialize(root, xml, root.getroottree().docinfo.encoding or "utf-8")


def _serialize(root: Any, original: bytes, encoding: str) -> bytes:
    declared = original.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml") or encoding.lower() != "utf-8"
    out = etree.tostring(root, encoding=encoding, xml_declaration=declared)
    assert isinstance(out, bytes)  # str only for encoding="unicode"
    return out


def _elements(root: Any, edit: Edit) -> list[Any]:
    try:
        found = edit.xpath.compiled(root)
    except etree.XPathError as exc:
        raise EditError(f"xpath {edit.xpath.text!r} failed: {exc}") from None
    if not isinstance(found, list):
        raise EditError(f"xpath {edit.xpath.text!r} gives a {type(found).__name__}, not elements")
    if any(not isinstance(n, etree._Element) for n in found):
        raise EditError(f"xpath {edit.xpath.text!r} selects text or attributes; edits need elements")
    return [n for n in found if isinstance(n.tag, str)]


def _apply(root: Any, edit: Edit) -> int:
    targets = _elements(root, edit)
    for el in targets:
        if edit.kind == "text":
            for child in list(el):
                el.remove(child)
            el.text = edit.text
        elif edit.kind == "set_attribute":
            for name, value in edit.attributes:
                el.set(name, value)
        elif edit.kind == "remove_attribute":
            for name, _ in edit.attributes:
                el.attrib.pop(name, None)
        elif edit.kind == "remove":
            _remove(el)
        else:
            _insert(el, edit)
    return len(targets)


def _remove(el: Any) -> None:
    """Remove ``el`` with the white space that led up to it, so the
    layout around it stays as it was."""
    parent = el.getparent()
    if parent is None:
        raise EditError("cannot remove the root element")
    tail = el.tail or ""
    before = el.getprevious()
    if before is not None:
        before.tail = (before.tail or "").rstrip(" \t\r\n") + tail
    else:
        parent.text = (parent.text or "").rstrip(" \t\r\n") + tail
    parent.remove(el)


def _insert(el: Any, edit: Edit) -> None:
    nodes = [copy.deepcopy(n) for n in parse_fragment(edit.fragment or "")]
    if edit.position in ("before", "after") and el.getparent() is None:
        raise EditError(f"cannot insert {edit.position} the root element")
    if edit.position == "append":
        for node in nodes:
            el.append(node)
    elif edit.position == "prepend":
        for node in reversed(nodes):
            el.insert(0, node)
    elif edit.position == "before":
        for node in nodes:
            el.addprevious(node)
    else:
        for node in reversed(nodes):
            el.addnext(node)


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _address(root: Any, change: AddressingAction, duplicate_id: str | None) -> None:
    soap_ns = _split(root.tag)[0]
    header = next((c for c in root if isinstance(c.tag, str) and c.tag == f"{{{soap_ns}}}Header"), None)
    if header is None:
        header = etree.Element(f"{{{soap_ns}}}Header")
        root.insert(0, header)
    wsa = next((_split(c.tag)[0] for c in header
                if isinstance(c.tag, str) and _split(c.tag)[0] in (names.WSA, names.WSA10)), names.WSA)

    def blocks(local: str) -> list[Any]:
        return [c for c in header if isinstance(c.tag, str)
                and _split(c.tag) in ((names.WSA, local), (names.WSA10, local))]

    def put(local: str, value: str) -> None:
        found = blocks(local)
        if not found:
            found = [etree.SubElement(header, f"{{{wsa}}}{local}")]
        for el in found:
            el.text = value

    if change.relates_to == "missing":
        for el in blocks("RelatesTo"):
            _remove(el)
    elif change.relates_to == "wrong":
        put("RelatesTo", new_message_id())
    if change.message_id == "duplicate":
        if not duplicate_id:
            raise EditError("no earlier MessageID to duplicate")
        put("MessageID", duplicate_id)


def _malform(root: Any, original: bytes, kind: MalformedKind) -> bytes:
    if kind == "invalid-utf8":
        body = next((c for c in root if isinstance(c.tag, str) and _split(c.tag)[1] == "Body"), root)
        target = body
        for el in body.iter():
            if isinstance(el.tag, str) and len(el) == 0:
                target = el
                break
        target.text = (target.text or "") + _MARKER
        xml = _serialize(root, original, "utf-8")
        return xml.replace(_MARKER.encode("utf-8"), _INVALID_UTF8, 1)
    xml = _serialize(root, original, "utf-8")
    cut = xml.rfind(b"</")
    return xml[:cut] if cut > 0 else xml[: len(xml) // 2]


def _wrong_namespace(root: Any, xml: bytes) -> bytes:
    """The envelope's namespace declarations point elsewhere; prefixes stay,
    so only a parser that matches on the namespace URI notices."""
    soap_ns = _split(root.tag)[0].encode()
    wrong = WRONG_NAMESPACE.encode()
    return xml.replace(b'"' + soap_ns + b'"', b'"' + wrong + b'"').replace(
        b"'" + soap_ns + b"'", b"'" + wrong + b"'"
    )


def _is_ncname(text: str) -> bool:
    return bool(text) and (text[0].isalpha() or text[0] == "_") and all(
        ch.isalnum() or ch in "._-" for ch in text
    )


# what the built-in actions (builtin_actions.py) edit with
apply_edit = _apply
address = _address
malform = _malform
wrong_namespace = _wrong_namespace
serialize = _serialize
