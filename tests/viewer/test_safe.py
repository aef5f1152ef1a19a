from __future__ import annotations

import sys
import unicodedata

import pytest
from rich.console import Console

from dspscope.viewer.safe import ELLIPSIS, is_clean, literal, printable
from tests.viewer.hostile import HOSTILE, RAW_CONTROLS

UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("[b]x[/b]", "[b]x[/b]"),
        ("\x1b]0;evil\x07", "\\x1b]0;evil\\x07"),
        ("a\u202eb", "a\\u202eb"),
        ("nul\x00", "nul\\x00"),
        ("tab\tline\nend", "tab\\x09line\\x0aend"),
        ("del\x7f c1\x9b", "del\\x7f c1\\x9b"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("ünïcödé 漢字 ✓", "ünïcödé 漢字 ✓"),
    ],
)
def test_printable_escapes_controls_on_one_line(text: str, expected: str) -> None:
    assert printable(text) == expected


def test_multiline_keeps_newlines_and_tabs_but_not_cr() -> None:
    assert printable("a\r\nb\tc\rd\x1b", multiline=True) == "a\nb\tc\\x0dd\\x1b"


def test_limit_cuts_before_escaping_and_marks_the_cut() -> None:
    assert printable("abcdef", limit=4) == "abc" + ELLIPSIS
    assert printable("abc", limit=4) == "abc"
    assert len(printable("x" * 10_000, limit=200)) == 200


def test_every_unsafe_code_point_of_this_python_is_escaped() -> None:
    missed = [
        f"U+{cp:04X}" for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in UNSAFE_CATEGORIES and is_clean(chr(cp))
    ]
    assert missed == []


def test_printable_output_is_always_clean() -> None:
    for text in HOSTILE:
        assert is_clean(printable(text))


@pytest.mark.parametrize("text", HOSTILE)
def test_literal_renders_text_as_is_without_markup_or_controls(text: str) -> None:
    rendered = literal(text, limit=200)
    assert rendered.plain == printable(text, limit=200)
    console = Console(width=400, color_system=None, force_terminal=False)
    with console.capture() as capture:
        console.print(rendered, soft_wrap=True)
    out = capture.get()
    for raw in RAW_CONTROLS:
        assert raw not in out
    if text.startswith("[@click"):
        assert "[@click=app.quit]x[/]" in out


def test_literal_styles_escapes_apart_from_text() -> None:
    rendered = literal("a\x1bb")
    assert rendered.plain == "a\\x1bb"
    styled = [span for span in rendered.spans if span.style]
    assert [(s.start, s.end) for s in styled] == [(1, 5)]
