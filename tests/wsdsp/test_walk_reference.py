"""The decoder's tree walk is hand-tuned; here it is checked, on random
trees, against the plain recursive walk it replaced (the specification)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from dspscope.wsdsp import checks, xmlparse
from dspscope.wsdsp import walk as walking
from dspscope.wsdsp.names import DSP, EMAIL, FILESHARE, PSP, XOP

VENDOR = "urn:vendor:acme"
NAMESPACES = [DSP, DSP, PSP, FILESHARE, EMAIL, XOP, VENDOR, ""]
NAMES = ["JobToken", "Filter", "ShareUNC", "Name", "Value", "Dialect", "ContinueOnError",
         "DocumentId", "JobState", "Include", "Instructions", "Config", "Note", "EmailAddress"]
TEXTS = st.one_of(
    st.sampled_from(["", "  ", "true", " false ", "1", "0", "7", "x7", "dsp:JobStatus", "Pending",
                     "Exploded", "{1BA72B60-C873-4D9D-B523-66616FE03EA9}", "cid:a%20b@x", VENDOR]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=8),
)


def reference(el: Any, path: str, ns: str, walk: walking.Walk) -> Any:
    """The walk as first written: one recursive call per element."""
    children = [c for c in el if isinstance(c.tag, str)]
    attrib = el.attrib
    local = path.rpartition("/")[2]
    if not children and not attrib:
        return walking.leaf(local, el, walk, path)
    out: dict[str, Any] = {}
    if attrib:
        walking.attributes(out, list(attrib.items()), el, path, ns, local, walk)
    for child in children:
        cns, clocal = xmlparse.split_tag(child.tag)
        cpath = f"{path}/{clocal}"
        walking.note_child(walk, path, ns, cpath, cns, clocal)
        walking.put(out, clocal, reference(child, cpath, cns, walk), cns)
    if not children:
        text = (el.text or "").strip()
        if text:
            out["#text"] = text
    return out


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    ns = draw(st.sampled_from(NAMESPACES))
    name = draw(st.sampled_from(NAMES))
    el = etree.Element(f"{{{ns}}}{name}" if ns else name, nsmap={"d": DSP, "v": VENDOR})
    if draw(st.integers(0, 4)) == 0:
        el.set("href" if name == "Include" else "Valid", draw(TEXTS))
    if draw(st.integers(0, 6)) == 0:
        el.set(f"{{{VENDOR}}}flag", "1")
    el.text = draw(TEXTS) if draw(st.booleans()) else None
    if depth < 4:
        for _ in range(draw(st.integers(0, 3))):
            if draw(st.integers(0, 7)) == 0:
                el.append(etree.Comment("c"))
            else:
                child = draw(trees(depth + 1))
                child.tail = draw(st.sampled_from([None, "\n  ", " x "]))
                el.append(child)
    return el


def _state(walk: walking.Walk) -> tuple[Any, ...]:
    return (walk.namespaces, walk.extensions, walk.dialects, walk.includes, walk.job_token,
            [(f.code, f.text) for f in walk.findings])


@settings(max_examples=300, deadline=timedelta(seconds=2))
@given(tree=trees())
def test_walk_matches_the_reference(tree: etree._Element) -> None:
    xml = etree.tostring(tree)
    for keep_blank in (True, False):
        root, problems = xmlparse.parse(xml, "", keep_blank=keep_blank)
        assert root is not None and problems == []
        ns, local = xmlparse.split_tag(root.tag)
        fast, slow = walking.Walk(), walking.Walk()
        got = walking.convert(root, local, ns, fast)
        want = reference(root, local, ns, slow)
        assert got == want
        assert _state(fast) == _state(slow)
        # and the leaves it hands to the checks are the ones a walk of the result
        # finds (in document order; the result groups repeated names)
        assert sorted(fast.leaves) == sorted(checks._value_leaves({local: want}))
