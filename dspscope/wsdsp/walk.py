"""The walk from a parsed envelope to fields: what decode (and the shape
cache, wsdsp.shapes) make of the XML before classification and checks.

The rules are written once, here: which leaves are typed (booleans,
integers), which texts are QNames, which names always repeat, what counts as
an extension, and how a SOAP fault is read.  ``children`` is the hot loop of
decode and has the common cases inline; ``convert`` is the plain recursive
form of the same rules.  shapes mirrors these rules for the texts of a known
shape by calling the functions here.

Their finding codes are in ``codes.CODES``.  At ~400 lines on purpose: the
rules and the hot loop that inlines them are kept side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import checks, names
from .codes import finding
from .messages import Fault, Finding
from .names import DSP, SOAP11, SOAP12, WSA, WSA10, XOP
from .soapfault import read_fault, reason_problems
from .values import parse_bool, parse_int
from .xmlparse import XML_NS, split_tag

PREFIX_OF = {uri: prefix for prefix, uri in names.PREFIXES.items()}
PREFIX_OF[XML_NS] = "xml"
QNAME_VALUED = frozenset({"Value", "Name"})
_QNAME_NAMESPACES = frozenset({DSP, SOAP11, SOAP12})

@dataclass(slots=True)
class Walk:
    """What one walk over the body collects beside the fields."""

    namespaces: dict[str, str] = field(default_factory=dict)
    extensions: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    dialects: set[str] = field(default_factory=set)
    includes: list[str] = field(default_factory=list)
    leaves: list[tuple[str, str]] = field(default_factory=list)  # for checks.VALUE_CHECKED
    job_token: str | None = None
    #: The XML may hold an element with very many attributes (see items_of).
    many_attributes: bool = False


@dataclass(slots=True)
class Walked:
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
    walk: Walk


#: WS-Addressing namespaces whose headers are read, and their version names
#: (2003/03: the pre-release one of the WS-Scan reference examples).
ADDRESSING = {WSA: "2004/08", WSA10: "2005/08", names.WSA_2003_03: "2003/03"}


def walk_envelope(root: Any, soap_ns: str, soap_version: str, many_attributes: bool) -> Walked:
    early: list[Finding] = []
    if soap_version == "1.1":
        early.append(
            finding("soap.version-1.1", "SOAP 1.1 envelope; WS-DSP uses SOAP 1.2")
        )
    walk = Walk(many_attributes=many_attributes)
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
        cns, clocal = split_tag(tag)
        if cns == soap_ns and clocal == "Header":
            for block in child:
                tag = block.tag
                if tag.__class__ is not str:
                    continue
                bns, blocal = split_tag(tag)
                if bns in ADDRESSING and blocal in names.ADDRESSING_HEADERS:
                    addressing = addressing or ADDRESSING[bns]
                    if blocal in addr:  # the first one counts, as for a receiver
                        early.append(
                            finding("wsa.duplicate-header", f"more than one wsa:{blocal} header; the first one is used")
                        )
                        continue
                    if blocal == "ReplyTo":
                        addr[blocal] = epr_address(block)
                    else:
                        addr[blocal] = (block.text or "").strip()
                    continue
                path = "Header/" + blocal
                walk.namespaces[path] = bns
                if bns not in names.KNOWN_NAMESPACES:
                    walk.extensions.append(path)
                put(headers, blocal, convert(block, path, bns, walk), bns)
        elif cns == soap_ns and clocal == "Body":
            for el in child:
                tag = el.tag
                if tag.__class__ is str:
                    body_el, body_tag = el, tag
                    break
    if addressing == "2005/08":
        early.append(
            finding("wsa.version-2005-08", "WS-Addressing 1.0 (2005/08) namespace; WS-DSP uses the 2004/08 namespace")
        )
    fault: Fault | None = None
    body_name: str | None = None
    body_ns = ""
    if body_el is not None:
        body_ns, body_name = split_tag(body_tag)
        walk.namespaces[body_name] = body_ns
        if body_ns not in names.KNOWN_NAMESPACES:
            walk.extensions.append(body_name)
        walk.leaves = []  # only the body's leaves are checked
        decoded = convert(body_el, body_name, body_ns, walk)
        fields[body_name] = decoded if decoded != "" else {}
        if body_name == "Fault" and body_ns == soap_ns:
            fault = read_fault(body_el, soap_ns)
            walk.findings.extend(reason_problems(body_el, soap_ns))
    return Walked(soap_ns, soap_version, early, addr, addressing, headers, fields, body_name,
                   body_ns, fault, walk)


def epr_element(block: Any) -> Any:
    """The element an endpoint reference's address is read from: its
    wsa:Address, or the block itself when it has none."""
    for sub in block:
        tag = sub.tag
        if tag.__class__ is str and split_tag(tag)[1] == "Address":
            return sub
    return block


def epr_address(block: Any) -> str:
    return (epr_element(block).text or "").strip()


_REPEATING_NAMESPACES = frozenset({DSP, names.PSP, names.FILESHARE, names.SHAREPOINT, names.EMAIL})


def put(out: dict[str, Any], key: str, value: Any, ns: str) -> None:
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
    names.BOOLEANS | names.INTEGERS | QNAME_VALUED | {"Dialect", "JobToken"}
)
BOOLEAN_TEXT = {"true": True, "false": False}
#: tag -> (namespace, local name, always a list, special leaf, not a WS-DSP name)
_TAG_INFO: dict[str, tuple[str, str, bool, bool, bool]] = {}


def _tag_info(tag: str) -> tuple[str, str, bool, bool, bool]:
    ns, local = split_tag(tag)
    special = local in _SPECIAL_LEAVES and not (local == "JobToken" and is_vendor(ns))
    info = (ns, local, local in names.REPEATED and ns in _REPEATING_NAMESPACES, special,
            ns == DSP and local not in names.DSP_ELEMENTS)
    if len(_TAG_INFO) < 4096:
        _TAG_INFO[tag] = info
    return info


def note_child(walk: Walk, path: str, ns: str, cpath: str, cns: str, local: str) -> None:
    """What the walk records of a child element beside its value: its
    namespace where it differs from its parent's, a vendor extension, an
    element of the WS-DSP namespace that the schema does not define."""
    if cns != ns:
        walk.namespaces[cpath] = cns
        if cns not in names.KNOWN_NAMESPACES and cns not in walk.dialects:
            walk.extensions.append(cpath)
    elif cns == DSP and local not in names.DSP_ELEMENTS:
        walk.findings.append(unknown_element(cpath))


def unknown_element(path: str) -> Finding:
    return finding("dsp.unknown-element",
                   f"{path}: the WS-DSP schema defines no element {path.rpartition('/')[2]!r} "
                   "in its namespace (a vendor's element belongs in the vendor's own namespace)")


def boolean(text: str) -> bool | None:
    """An xs:boolean text as the walk reads it; None when it is none."""
    value = BOOLEAN_TEXT.get(text)
    return parse_bool(text) if value is None else value


def is_job_token(local: str, ns: str) -> bool:
    """Whether an element is the job's JobToken (a vendor's is not)."""
    return local == "JobToken" and not is_vendor(ns)


def is_vendor(ns: str) -> bool:
    """A vendor's namespace (a vendor's JobToken element is not the job's)."""
    return bool(ns) and ns not in names.KNOWN_NAMESPACES


def convert(el: Any, path: str, ns: str, walk: Walk) -> Any:
    """An element as a JSON-like value: a typed scalar for a leaf (no child
    elements, no attributes), else a dict of "@attribute", child local names
    and "#text"."""
    local = path.rpartition("/")[2]
    items = items_of(el) if walk.many_attributes else el.items()
    out: dict[str, Any] = {}
    if items:
        attributes(out, items, el, path, ns, local, walk)
    if len(el) and children(el, out, path, ns, walk):
        return out
    if not items:
        return leaf(local, el, walk, path)
    text = (el.text or "").strip()
    if text:
        out["#text"] = text
    return out


def children(el: Any, out: dict[str, Any], path: str, ns: str, walk: Walk) -> int:
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
        cns, local, always, special, undefined = tag_info.get(tag) or _tag_info(tag)
        if cns != ns:
            cpath = path + "/" + local
            namespaces[cpath] = cns
            if cns not in known and cns not in walk.dialects:
                walk.extensions.append(cpath)
        elif undefined:
            walk.findings.append(unknown_element(path + "/" + local))
        value: Any
        items = items_of(child) if many_attributes else child.items()
        if len(child):
            cpath = path + "/" + local
            sub: dict[str, Any] = {}
            if items:
                attributes(sub, items, child, cpath, cns, local, walk)
            if children(child, sub, cpath, cns, walk):
                value = sub
            elif items:  # attributes and only comments or processing instructions
                text = (child.text or "").strip()
                if text:
                    sub["#text"] = text
                value = sub
            else:  # a leaf with a comment in it
                value = leaf(local, child, walk, cpath)
        elif items:
            value = convert(child, path + "/" + local, cns, walk)
        elif special:
            text = child.text
            text = text.strip() if text else ""
            if local in booleans and text in BOOLEAN_TEXT:
                value = BOOLEAN_TEXT[text]
            elif local == "Dialect" and text:
                walk.dialects.add(text)
                value = text
            else:  # QNames, integers, the JobToken, odd booleans
                value = leaf(local, child, walk, path + "/" + local)
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
        put(out, local, value, cns)
    return found


#: lxml's ``items()`` looks each attribute's value up by name, quadratic in
#: their number (50,000 attributes, 540 KB, took 19 s).  XML with this many
#: '=' in it could hold such an element and is read through XPath instead.
MANY_ATTRIBUTES = 1024


def items_of(el: Any) -> list[tuple[str, str]]:
    """(name, value) of each attribute of ``el``, in linear time."""
    return [(str(value.attrname), str(value)) for value in el.xpath("@*")]


def attributes(
    out: dict[str, Any], items: list[tuple[str, str]], el: Any, path: str, ns: str, local: str,
    walk: Walk,
) -> None:
    for key, value in items:
        ans, alocal = split_tag(key)
        if ans:
            walk.namespaces[f"{path}/@{alocal}"] = ans
            if ans not in names.KNOWN_NAMESPACES and ans != XML_NS and ans not in walk.dialects:
                walk.extensions.append(f"{path}/@{alocal}")
        out["@" + alocal] = typed(alocal, qname_text(alocal, value, el), walk, path)
    if ns == XOP and local == "Include":
        walk.includes.append(el.get("href", ""))


def leaf(local: str, el: Any, walk: Walk, path: str) -> Any:
    text = "".join(t for t in el.itertext()) if len(el) else (el.text or "")
    text = text.strip()
    if local in QNAME_VALUED:
        text = qname_text(local, text, el)
    if local == "Dialect" and text:
        walk.dialects.add(text)
    elif walk.job_token is None and is_job_token(local, split_tag(el.tag)[0]):
        walk.job_token = text
    elif local in checks.VALUE_CHECKED:
        walk.leaves.append((local, text))
    return typed(local, text, walk, path)


def typed(local: str, text: str, walk: Walk, path: str) -> Any:
    if local in names.BOOLEANS:
        value = boolean(text)
        if value is None:
            walk.findings.append(
                finding("dsp.invalid-boolean", f"{path}: {text!r} is not an xs:boolean")
            )
            return text
        return value
    if local in names.INTEGERS:
        number = parse_int(text)
        if number is None:
            walk.findings.append(
                finding("dsp.invalid-integer", f"{path}: {text!r} is not an integer")
            )
            return text
        return number
    return text


def qname_text(local: str, text: str, el: Any) -> str:
    """QName values ("x:JobStatus") rewritten to the usual prefix, so they
    compare and re-encode whatever prefix the sender chose."""
    if local not in QNAME_VALUED or "/" in text or " " in text or not text:
        return text
    prefix, sep, name = text.partition(":")
    if sep:
        uri = el.nsmap.get(prefix)
    elif split_tag(el.tag)[0] in _QNAME_NAMESPACES:
        # Where Name/Value are QNames, an unprefixed one is in the default
        # namespace (a sender may make dsp the default and write "JobStatus").
        uri, name = el.nsmap.get(None), text
    else:
        return text
    usual = PREFIX_OF.get(uri) if uri else None
    if uri in (SOAP11, SOAP12):
        usual = "soap"
    return f"{usual}:{name}" if usual else text
