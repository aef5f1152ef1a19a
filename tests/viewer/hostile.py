"""Strings that try to subvert a terminal UI: Rich/Textual markup, actions,
ANSI and OSC escape sequences, bidi overrides, NUL, very long lines."""

from __future__ import annotations

HOSTILE = (
    "[/]",
    "[@click=app.quit]x[/]",
    "[bold red]not bold[/bold red]",
    "[link=https://evil.example]click[/link]",
    "\x1b]0;evil\x07",
    "\x1b[2J\x1b[31mred\x1b[0m",
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "abc\u202eevil\u202c",
    "nul\x00byte",
    "bell\x07 backspace\x08 cr\r",
    "\u2066isolate\u2069 zero\u200bwidth",
    "x" * 5000,
    "$accent $text {braces} %s %(name)s",
)

#: One string holding every kind at once, for fields that take one value;
#: terminal controls first, so that even a narrow column shows one.
ALL_IN_ONE = ("\x1b]0;evil\x07\u202e\x00" + "".join(s for s in HOSTILE if len(s) < 100)
              + "y" * 3000)

#: What must never reach the screen as such.
RAW_CONTROLS = ("\x1b", "\x07", "\x00", "\u202e", "\u2066", "\u200b", "\x08")
