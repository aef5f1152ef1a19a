"""The shape cache: decode a message of a shape seen before without parsing
it again.

A device sends the same few messages over and over; only the texts between
the tags change (MessageID, JobToken, a page number).  After the hardened
parser and the full walk have decoded a message, ``learn`` records its
*shape*: every tag, byte for byte, as one compiled regular expression with a
capture group for each text between two tags, plus a small builder that
turns those texts into what the walk found (fields, headers, addressing,
job token).  ``walked`` fully matches a later message against the shapes
recorded for its first tags; on a match it returns the builder's result,
otherwise None and the caller parses.

Why a match is as good as a parse: the tags are literally those of a
document the hardened parser accepted, and each text group only admits
character data that cannot change the tree: no '<', no '&' (so no entity or
character reference), no ']]>', no character XML forbids.  Line ends are
normalised first, as an XML processor does before parsing.  Shapes with
comments, processing instructions, CDATA, entity references, faults, many
attributes or any finding from the walk are not recorded; a text the
builder cannot take as the walk would (an odd boolean, a changed filter
Dialect) makes it give up, and the message is parsed.  The builder is
checked against the walk on the message it was learned from, and the test
suite checks both paths agree on mutated messages.

The builder is generated Python: it names only indexes and helper
functions, never any text from the message (tag names and values reach it
as constants in a tuple), so a hostile message cannot inject code.

Over ~400 lines on purpose: the safety argument above holds only for the
matcher, the locator and the generator together; kept in one module they
can be read and reviewed as one.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from . import checks, names, walk
from .values import parse_int
from .walk import Walked
from .xmlparse import split_tag

#: Off switch (tests compare both paths; nothing else needs it).
ENABLED = True
#: Messages larger than this are parsed: the win is in small envelopes.
MAX_BYTES = 64 * 1024
MAX_KEYS = 256
MAX_SHAPES_PER_KEY = 8
#: A shape is learned on the second message that starts like it.
_LEARN_AFTER = 2
_KEY_PART = 512
#: Misses, with every place for shapes of a key taken, before the key is given up.
_GIVE_UP_AFTER = 64

#: Character data that cannot change the tree (see the module docstring).
_TEXT = r"([^<&\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*)"
_GAP = re.compile(r">([^<]*)<")
_NOT_TEXT = re.compile(r"[<&\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|]]>")

#: An attribute value between its quotes: as _TEXT, and no quote of its
#: kind and no tab or line end either (attribute-value normalisation, XML 1.0
#: section 3.3.3, turns those into spaces), so the text is the value.
_ATTRIBUTE_TEXT = {'"': r'([^<&"\t\n\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*)',
                   "'": r"([^<&'\t\n\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*)"}
#: One attribute in a start tag (without its '<'); checked against the tree.
_ATTRIBUTE = re.compile(r"""[ \t\n]+([^ \t\n=/>"']+)[ \t\n]*=[ \t\n]*(?:"([^"]*)"|'([^']*)')""")

_lock = threading.Lock()
#: key -> signature -> shapes; the signature (how many tags, how many end
#: tags) is the same for every message a shape matches, since no group can
#: hold a '<', so a message is tried against one shape, seldom two (the
#: signature is only counted when a key has shapes of more than one).
_shapes: dict[str, dict[tuple[int, int], list[_Shape]]] = {}
_seen: dict[str, int] = {}
#: Keys whose messages do not repeat a shape (an attribute name new in
#: every message, say): not matched, not learned any more.
_UNSTEADY: dict[tuple[int, int], list[_Shape]] = {}
_misses: dict[str, int] = {}


class _Miss(Exception):
    """A text the builder will not take the way the walk would."""


@dataclass(frozen=True, slots=True)
class _Shape:
    pattern: re.Pattern[str]
    build: Callable[[Sequence[str]], Walked]


def clear() -> None:
    """Forget every shape (tests)."""
    with _lock:
        _shapes.clear()
        _seen.clear()
        _misses.clear()


def _text(xml: bytes) -> str | None:
    if len(xml) > MAX_BYTES:
        return None
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\r" in text:  # XML 1.0 section 2.11, before anything else
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _key(text: str) -> str:
    """The first tag (XML declaration or root) and the tag after the first
    "Body": what the shapes to try are filed under.  Any string would be
    correct; this one keeps the list short."""
    body = text.find("Body")
    start = text.find("<", body) if body >= 0 else -1
    end = text.find(">")
    first = text[: min(end if end >= 0 else len(text), _KEY_PART)]
    if start < 0:
        return first
    end = text.find(">", start)
    return first + "\x00" + text[start : min(end if end >= 0 else len(text), start + _KEY_PART)]


def _signature(text: str) -> tuple[int, int]:
    return text.count("<"), text.count("</")


def _count(signatures: dict[tuple[int, int], list[_Shape]]) -> int:
    return sum(len(shapes) for shapes in signatures.values())


def _saw(key: str) -> None:
    if len(_seen) >= 4 * MAX_KEYS:
        _seen.clear()
    _seen[key] = _seen.get(key, 0) + 1


def walked(xml: bytes) -> Walked | None:
    """What the walk would find in ``xml``, when its shape is known."""
    text = _text(xml)
    if text is None:
        return None
    key = _key(text)
    signatures = _shapes.get(key)
    if signatures is _UNSTEADY:
        return None
    if not signatures:
        _saw(key)
        return None
    if "]]>" in text:
        return None
    if len(signatures) == 1:  # counting costs as much as a match: only to choose
        (candidates,) = signatures.values()
    else:
        candidates = signatures.get(_signature(text), [])
    for shape in candidates:
        found = shape.pattern.fullmatch(text)
        if found is not None:
            try:
                return shape.build(found.groups())
            except _Miss:
                return None
    if _count(signatures) >= MAX_SHAPES_PER_KEY:
        missed = _misses[key] = _misses.get(key, 0) + 1
        if missed >= _GIVE_UP_AFTER:
            _shapes[key] = _UNSTEADY  # every try is a full match attempt per shape, wasted
    _saw(key)
    return None


def learn(xml: bytes, root: Any, result: Walked) -> None:
    """Record the shape of ``xml`` (parsed as ``root``, walked as ``result``)
    if it can be, once a second message starting like it has come."""
    text = _text(xml)
    if text is None:
        return
    key = _key(text)
    if _seen.get(key, 0) < _LEARN_AFTER:
        return
    with _lock:
        signatures = _shapes.get(key, {})
        if (signatures is _UNSTEADY or _count(signatures) >= MAX_SHAPES_PER_KEY
                or (not signatures and len(_shapes) >= MAX_KEYS)):
            return
    try:
        shape = _compile(text, root, result)
    except Exception:  # noqa: BLE001 - unsupported, or a bug here: parse it every time
        shape = None
    with _lock:
        _seen[key] = 0 if shape is not None else -8 * _LEARN_AFTER  # back off from what will not do
        if shape is not None:
            signatures = _shapes.setdefault(key, {})
            if signatures is not _UNSTEADY:  # not given up on while compiling
                signatures.setdefault(_signature(text), []).append(shape)


# ------------------------------------------------------------------ compiling


class _Unsupported(Exception):
    """A shape the cache does not record (it is parsed every time)."""


def _compile(text: str, root: Any, result: Walked) -> _Shape:
    if result.fault is not None or result.walk.findings or result.walk.many_attributes:
        raise _Unsupported
    if "&" in text or "]]>" in text or "<!" in text or text.count("<?") > text.startswith("<?xml"):
        raise _Unsupported
    chunks = _GAP.split(text)
    tags, gaps = chunks[0::2], chunks[1::2]
    if not tags[0].startswith(("<", "\ufeff<")) or not tags[-1].rstrip().endswith(">"):
        raise _Unsupported
    if any(_NOT_TEXT.search(gap) for gap in gaps):
        raise _Unsupported
    text_gap, start_tag = _locate(tags, gaps, root)
    spans = _attribute_spans(tags, start_tag, _read_elements(root, result.soap_ns))
    source_pattern, gap_group, attribute_group = _pattern(tags, spans)
    plan = _Plan({el: gap_group[i] for el, i in text_gap.items()},
                 {(el, name): attribute_group[(start_tag[el], name)]
                  for el in start_tag for name in spans.get(start_tag[el], {})},
                 result, root)
    source = plan.source()
    namespace: dict[str, Any] = {}
    exec(compile(source, "<wsdsp.shapes builder>", "exec"), namespace)  # noqa: S102 - see docstring
    build = namespace["make"](tuple(plan.constants), _Helpers(result))
    pattern = re.compile(source_pattern, re.DOTALL)
    found = pattern.fullmatch(text)
    if found is None:
        raise _Unsupported
    again = build(found.groups())
    if _fingerprint(again) != _fingerprint(result):
        raise _Unsupported  # the builder disagrees with the walk: never use it
    return _Shape(pattern, build)


def _pattern(tags: list[str], spans: dict[int, dict[str, tuple[int, int, str]]]
             ) -> tuple[str, dict[int, int], dict[tuple[int, str], int]]:
    """The tags literally, a text group between each two, and one for each
    attribute value in ``spans`` (tag index -> name -> start, end, quote);
    after an XML declaration only white space (nothing else may precede the
    root).  With the pattern, the group number of each gap and attribute."""
    gap_group: dict[int, int] = {}
    attribute_group: dict[tuple[int, str], int] = {}
    groups = 0
    out: list[str] = []
    for i, tag in enumerate(tags):
        if i:
            prolog = i == 1 and tags[0].startswith(("<?xml", "\ufeff<?xml"))
            out.append(">" + (r"([ \t\n]*)" if prolog else _TEXT) + "<")
            gap_group[i - 1] = groups
            groups += 1
        at = 0
        for name, (start, end, quote) in sorted(spans.get(i, {}).items(), key=lambda item: item[1]):
            out.append(re.escape(tag[at:start]) + _ATTRIBUTE_TEXT[quote])
            attribute_group[(i, name)] = groups
            groups += 1
            at = end
        out.append(re.escape(tag[at:]))
    return "".join(out), gap_group, attribute_group


def _read_elements(root: Any, soap_ns: str) -> list[Any]:
    """The elements whose attributes the walk reads (walk.convert): those
    of header blocks other than WS-Addressing's, and of the body's first
    element, with everything inside them."""
    read: list[Any] = []
    for child in root:
        cns, clocal = split_tag(child.tag)
        if cns == soap_ns and clocal == "Header":
            for block in child:
                bns, blocal = split_tag(block.tag)
                if not (bns in walk.ADDRESSING and blocal in names.ADDRESSING_HEADERS):
                    read.extend(block.iter())
        elif cns == soap_ns and clocal == "Body":
            body = next(iter(child), None)
            if body is not None:
                read.extend(body.iter())
    return read


def _attribute_spans(tags: list[str], start_tag: dict[Any, int], read: list[Any]
                     ) -> dict[int, dict[str, tuple[int, int, str]]]:
    """Where, in each start tag, the values of the attributes the walk reads
    as plain text are: those with no namespace, not QName-valued, not typed.
    Every attribute written in the tag is checked against the tree."""
    spans: dict[int, dict[str, tuple[int, int, str]]] = {}
    for el in read:
        items = el.items()
        index = start_tag.get(el)
        if not items or index is None or index in (0, len(tags) - 1):
            continue
        chunk = tags[index]
        at = len(chunk.split(None, 1)[0].rstrip("/"))
        written: dict[str, tuple[int, int, str]] = {}
        while (found := _ATTRIBUTE.match(chunk, at)) is not None:
            group = 2 if found.group(2) is not None else 3
            written[found.group(1)] = (found.start(group), found.end(group), found.group(0)[-1])
            at = found.end()
        if chunk[at:].strip(" \t\n") not in ("", "/"):
            raise _Unsupported
        if len([n for n in written if n != "xmlns" and not n.startswith("xmlns:")]) != len(items):
            raise _Unsupported
        variable: dict[str, tuple[int, int, str]] = {}
        locals_ = [split_tag(name)[1] for name, _ in items]
        for name, value in items:
            if "{" in name or name in walk.QNAME_VALUED or name in names.BOOLEANS or name in names.INTEGERS:
                continue
            if locals_.count(name) > 1:  # "@name" is another attribute's too
                continue
            if name not in written:
                raise _Unsupported
            start, end, quote = written[name]
            if chunk[start:end] != value:
                raise _Unsupported
            variable[name] = written[name]
        if variable:
            spans[index] = variable
    return spans


def _fingerprint(w: Walked) -> str:
    walk = w.walk
    return json.dumps([
        w.soap_ns, w.soap_version, [f.code for f in w.early], w.addr, w.addressing, w.headers,
        w.fields, w.body_name, w.body_ns, walk.namespaces, walk.extensions, walk.includes,
        walk.leaves, walk.job_token, sorted(walk.dialects),
    ])


def _qualified(el: Any) -> str:
    local = etree.QName(el).localname
    return f"{el.prefix}:{local}" if el.prefix else local


def _locate(tags: list[str], gaps: list[str], root: Any) -> tuple[dict[Any, int], dict[Any, int]]:
    """For each element, the index of the text after its start tag (absent
    for an empty-element tag), and of its start tag; verified against the
    tree (with the texts after end tags), so that a '>' inside an attribute
    value cannot shift the texts."""
    index = 1 if tags[0].startswith(("<?xml", "\ufeff<?xml")) else 0
    if index and gaps[0].strip(" \t\n"):
        raise _Unsupported
    text_gap: dict[Any, int] = {}
    start_tag: dict[Any, int] = {}
    tail_gap: dict[Any, int] = {}
    empty: set[Any] = set()
    for event, el in etree.iterwalk(root, events=("start", "end")):
        if not isinstance(el.tag, str) or index >= len(tags):
            raise _Unsupported
        chunk = tags[index].lstrip("\ufeff<")
        if event == "start":
            if chunk.endswith("/"):
                empty.add(el)
                name = chunk[:-1]
            else:
                name = chunk
                text_gap[el] = index
            if name.split(None, 1)[0] != _qualified(el):
                raise _Unsupported
            start_tag[el] = index
            if el in empty:
                tail_gap[el] = index
            index += 1
            continue
        if el in empty:
            continue
        if index == len(tags) - 1:
            chunk = chunk.rstrip(" \t\n")[:-1]
        if chunk.rstrip(" \t\n") != "/" + _qualified(el):
            raise _Unsupported
        tail_gap[el] = index
        index += 1
    if index != len(tags):
        raise _Unsupported
    for el, i in text_gap.items():
        if not _same(gaps[i], el.text):
            raise _Unsupported
    for el, i in tail_gap.items():
        if el is not root and i < len(gaps) and not _same(gaps[i], el.tail):
            raise _Unsupported
    return text_gap, start_tag


def _same(gap: str, parsed: str | None) -> bool:
    return gap == parsed if parsed is not None else not gap.strip(" \t\n")


class _Stub:
    """What walk.qname_text reads of an element: its tag and namespaces."""

    __slots__ = ("nsmap", "tag")

    def __init__(self, el: Any) -> None:
        self.tag = el.tag
        self.nsmap = dict(el.nsmap)


class _Helpers:
    """The functions a builder calls; each either returns what the walk
    would have made of a text, or raises _Miss."""

    def __init__(self, result: Walked) -> None:
        self.result = result

    @staticmethod
    def boolean(text: str) -> bool:
        value = walk.boolean(text)
        if value is None:
            raise _Miss
        return value

    @staticmethod
    def integer(text: str) -> int:
        value = parse_int(text)
        if value is None:
            raise _Miss
        return value

    @staticmethod
    def same(text: str, expected: str) -> str:
        if text != expected:
            raise _Miss
        return text

    @staticmethod
    def filled(text: str) -> str:
        if not text:
            raise _Miss
        return text

    @staticmethod
    def blank(text: str) -> None:
        if text:
            raise _Miss

    @staticmethod
    def or_dict(value: Any) -> Any:
        return value if value != "" else {}

    @staticmethod
    def qname(local: str, text: str, stub: _Stub) -> str:
        return walk.qname_text(local, text, stub)

    def make(self, fields: dict[str, Any], headers: dict[str, Any], addr: dict[str, str],
             job_token: str | None, leaves: list[tuple[str, str]], includes: list[str]) -> Walked:
        r = self.result
        w = r.walk
        collected = walk.Walk(
            namespaces=dict(w.namespaces), extensions=list(w.extensions), findings=[],
            dialects=set(w.dialects), includes=includes, leaves=leaves,
            job_token=job_token)
        return Walked(r.soap_ns, r.soap_version, list(r.early), addr, r.addressing, headers,
                      fields, r.body_name, r.body_ns, None, collected)


class _Plan:
    """Generates a builder's source from the template's tree, mirroring
    the walk (walk.walk_envelope, convert, leaf) for the shapes this
    module records, through the walk's own rules (walk.put, walk.attributes,
    walk.qname_text, walk.boolean, walk.is_job_token)."""

    def __init__(self, text_gap: dict[Any, int], attribute_group: dict[tuple[Any, str], int],
                 result: Walked, root: Any) -> None:
        self.root = root
        self.text_gap = text_gap
        self.attribute_group = attribute_group
        self.includes: list[str] = []
        self.result = result
        self.constants: list[Any] = []
        self.lines: list[str] = []
        self.leaves: list[str] = []
        self.job_token: str | None = None
        self.values = 0

    def const(self, value: Any) -> str:
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    def var(self, expr: str) -> str:
        name = f"v{self.values}"
        self.values += 1
        self.lines.append(f"{name} = {expr}")
        return name

    def text(self, el: Any) -> str:
        """Source of the element's stripped text (its text after the start tag)."""
        index = self.text_gap.get(el)
        return f"g[{index}].strip()" if index is not None else "''"

    def source(self) -> str:
        result = self.result
        soap_ns = result.soap_ns
        addr: list[tuple[str, str]] = []
        headers: dict[str, Any] = {}
        fields = "{}"
        for child in self.root:
            cns, clocal = split_tag(child.tag)
            if cns == soap_ns and clocal == "Header":
                for block in child:
                    bns, blocal = split_tag(block.tag)
                    if bns in walk.ADDRESSING and blocal in names.ADDRESSING_HEADERS:
                        if any(key == blocal for key, _ in addr):
                            continue
                        source = self.text(walk.epr_element(block) if blocal == "ReplyTo" else block)
                        addr.append((blocal, self.var(source)))
                        continue
                    walk.put(headers, blocal, _Slot(self.convert(block, bns)), bns)
            elif cns == soap_ns and clocal == "Body":
                body = next(iter(child), None)
                if body is not None:
                    self.leaves.clear()  # only the body's leaves are checked
                    bns, blocal = split_tag(body.tag)
                    value = self.convert(body, bns)
                    fields = "{" + f"{self.const(blocal)}: H.or_dict({value})" + "}"
        lines = [
            "def make(K, H):",
            "  def build(g):",
            *("    " + line for line in self.lines),
            f"    return H.make({fields}, {_dict_source(self, headers)}, "
            + "{" + ", ".join(f"{self.const(k)}: {v}" for k, v in addr) + "}, "
            + f"{self.job_token or 'None'}, [{', '.join(self.leaves)}], [{', '.join(self.includes)}])",
            "  return build",
        ]
        return "\n".join(lines) + "\n"

    def convert(self, el: Any, ns: str) -> str:
        """Source of an element's value (walk.convert / walk.children)."""
        local = split_tag(el.tag)[1]
        items = el.items()
        attributes: dict[str, Any] = {}
        if items:
            scratch = walk.Walk()
            walk.attributes(attributes, items, el, "", ns, local, scratch)
            if scratch.findings:
                raise _Unsupported
            for include in scratch.includes:  # walk.attributes' xop:Include href
                group = self.attribute_group.get((el, "href"))
                self.includes.append(f"g[{group}]" if group is not None else self.const(include))
        entries = []
        for k, v in attributes.items():
            group = self.attribute_group.get((el, k[1:]))
            entries.append(f"{self.const(k)}: " + (f"g[{group}]" if group is not None else self.const(v)))
        if len(el):
            out: dict[str, Any] = {}
            for child in el:
                cns, clocal = split_tag(child.tag)
                # walk.put is what walk.children's inline insertion does
                walk.put(out, clocal, _Slot(self.convert(child, cns)), cns)
            entries += [f"{self.const(k)}: {_value_source(v)}" for k, v in out.items()]
            return "{" + ", ".join(entries) + "}"
        if items:
            index = self.text_gap.get(el)
            gap = f"g[{index}].strip()" if index is not None else "''"
            if (el.text or "").strip():
                entries.append(f"'#text': H.filled({gap})")
            else:
                self.lines.append(f"H.blank({gap})")
            return "{" + ", ".join(entries) + "}"
        return self.leaf(el, local, ns)

    def leaf(self, el: Any, local: str, ns: str) -> str:
        text = self.text(el)
        typed = local in names.BOOLEANS or local in names.INTEGERS
        qname = local in walk.QNAME_VALUED
        checked = local in checks.VALUE_CHECKED
        if typed and (qname or checked or local in ("Dialect", "JobToken")):
            raise _Unsupported
        value = self.var(text)
        if qname:
            value = self.var(f"H.qname({self.const(local)}, {value}, {self.const(_Stub(el))})")
        if local == "Dialect":
            expected = walk.qname_text(local, (el.text or "").strip(), el) if qname else (el.text or "").strip()
            return self.var(f"H.same({value}, {self.const(expected)})")
        if walk.is_job_token(local, ns):
            if self.job_token is None:
                self.job_token = value
        elif checked:
            self.leaves.append(f"({self.const(local)}, {value})")
        if local in names.BOOLEANS:
            return self.var(f"H.boolean({value})")
        if local in names.INTEGERS:
            return self.var(f"H.integer({value})")
        return value


class _Slot:
    """A placeholder for a value while the insertion rules are replayed."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source


def _value_source(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value_source(v) for v in value) + "]"
    assert isinstance(value, _Slot)
    return value.source


def _dict_source(plan: _Plan, out: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{plan.const(k)}: {_value_source(v)}" for k, v in out.items()) + "}"
