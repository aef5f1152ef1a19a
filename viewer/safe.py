"""Captured text made safe to put on a terminal.

Everything the viewer shows that came off the wire goes through here first.
Two dangers are handled: Rich/Textual markup (avoided by never building
widgets from markup strings: ``literal`` returns a ``rich.text.Text``) and
characters a terminal acts on instead of drawing: C0/C1 controls (ESC starts
ANSI and OSC sequences, BEL ends OSC titles), DEL, bidirectional overrides
that reorder what follows, zero-width and other format characters, line and
paragraph separators, lone surrogates.  Those are shown as visible escapes
(``\\x1b``, ``\\u202e``) so that a hostile string reads as what it is.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

# Unicode categories Cc, Cf, Zl, Zp and Cs, with room for the Cf characters
# later Unicode versions add in the same blocks (tests check the coverage
# against the running Python's Unicode database).
_OTHER_UNSAFE = (
    "\x7f-\x9f\xad"
    "\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f"
)
_UNSAFE = re.compile(f"[\x00-\x1f{_OTHER_UNSAFE}]")
# Multi-line text keeps tab and newline (CR is escaped after CRLF -> LF).
_UNSAFE_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHER_UNSAFE}]")

ELLIPSIS = "…"
ESCAPE_STYLE = Style(dim=True, reverse=True)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _prepare(text: str, multiline: bool, limit: int | None) -> tuple[str, bool]:
    if multiline:
        text = text.replace("\r\n", "\n")
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[: max(0, limit - 1)]  # type: ignore[operator]
    return text, cut


def printable(text: str, *, multiline: bool = False, limit: int | None = None) -> str:
    """``text`` with every control, format and bidi character escaped.

    ``multiline`` keeps newlines and tabs (CRLF becomes LF); otherwise they
    are escaped too, for one-line cells.  ``limit`` cuts the text (before
    escaping) to that many characters, ending it with an ellipsis."""
    text, cut = _prepare(text, multiline, limit)
    pattern = _UNSAFE_MULTILINE if multiline else _UNSAFE
    if pattern.search(text) is not None:
        text = pattern.sub(_escape_char, text)
    return text + ELLIPSIS if cut else text


def literal(
    text: str,
    style: Style | str = "",
    *,
    multiline: bool = False,
    limit: int | None = None,
    escape_style: Style = ESCAPE_STYLE,
) -> Text:
    """A ``Text`` showing ``text`` literally, escapes highlighted.

    The result is never parsed as markup, so ``[b]`` or ``[@click=...]`` in
    captured data are just characters."""
    text, cut = _prepare(text, multiline, limit)
    pattern = _UNSAFE_MULTILINE if multiline else _UNSAFE
    out = Text(style=style, no_wrap=not multiline, end="")
    last = 0
    for match in pattern.finditer(text):
        if match.start() > last:
            out.append(text[last : match.start()])
        out.append(_escape_char(match), style=escape_style)
        last = match.end()
    out.append(text[last:])
    if cut:
        out.append(ELLIPSIS)
    return out


def is_clean(text: str) -> bool:
    """True when ``text`` has nothing ``printable`` would escape (one-line rules)."""
    return _UNSAFE.search(text) is None
