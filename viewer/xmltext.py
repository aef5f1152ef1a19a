"""Message bodies as text for the XML, Diff and Intercept views.

Parsing goes through ``wsdsp.codec.parse_envelope`` (the decoder's
hardened parser: no DTDs, no entities, no network, bounded); what does not
parse is shown as text.  Everything returned here is made printable (control and bidi
characters escaped) and bounded in size.
"""

from __future__ import annotations

import difflib

from lxml import etree

from dspscope.viewer.safe import printable
from dspscope.wsdsp import mtom
from dspscope.wsdsp.codec import parse_envelope

MAX_CHARS = 512 * 1024


def xml_span(content: bytes, content_type: str | None) -> tuple[int, int]:
    """Where the XML of a body is: the MTOM root part, or all of it."""
    return mtom.xml_span(content, content_type) or (0, 0)


def xml_bytes(content: bytes, content_type: str | None) -> bytes:
    """The XML of a body: the MTOM root part, or the whole body."""
    start, end = xml_span(content, content_type)
    return bytes(content[start:end])


def indented(content: bytes | None, content_type: str | None = None) -> str:
    """The body's XML, indented (as captured, not escaped); the raw text
    when it is not well-formed XML."""
    if not content:
        return ""
    root = parse_envelope(content, content_type)
    if root is not None:
        try:
            etree.indent(root, space="  ")
            return str(etree.tostring(root, encoding="unicode"))
        except (ValueError, etree.LxmlError):
            pass
    return _as_text(xml_bytes(content, content_type) or content)


def pretty(content: bytes | None, content_type: str | None = None) -> str:
    """``indented``, made printable and bounded: for display."""
    return _bounded(indented(content, content_type))


def _as_text(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8", "replace")


def _bounded(text: str) -> str:
    cut = len(text) > MAX_CHARS
    text = printable(text[:MAX_CHARS], multiline=True)
    if cut:
        text += f"\n… (cut at {MAX_CHARS:,} characters)"
    return text


def unified_diff(before: str, after: str, before_name: str, after_name: str) -> str:
    """A unified diff of two already printable texts ("" when equal)."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(),
                                 before_name, after_name, lineterm="", n=3)
    return "\n".join(lines)
