"""Helpers for pilot tests: wait for what the app shows while it runs (no
fixed pauses: ``await pilot.pause()`` without a delay only lets pending
messages through)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from tests.helpers import eventually_async


async def until(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 15.0,
                what: str = "condition") -> None:
    """Wait (tests/helpers.py's ``eventually_async``) while the app runs."""
    await eventually_async(condition, timeout, what, interval=0.05)


def screen_text(pilot: Pilot[None]) -> str:
    """What the terminal shows, as plain text lines."""
    strips = pilot.app.screen._compositor.render_strips()  # noqa: SLF001
    return "\n".join(strip.text for strip in strips)


async def shown(pilot: Pilot[None], *texts: str, timeout: float = 15.0) -> str:
    """Until every one of ``texts`` is on the terminal; what it shows then."""
    await until(pilot, lambda: all(text in screen_text(pilot) for text in texts), timeout,
                what=f"{' and '.join(map(repr, texts))} on screen")
    return screen_text(pilot)


async def detail_drawn(pilot: Pilot[None]) -> None:
    """Until the main screen's detail shows the row under the cursor (it
    follows the cursor after a short delay), then let it paint."""
    app: Any = pilot.app
    await until(pilot, lambda: app.main.exchanges.current() is not None
                and app.main.detail.row is app.main.exchanges.current(),
                what="the detail of the row under the cursor")
    await pilot.pause()


async def input_focused(pilot: Pilot[None], input_id: str | None = None) -> Input:
    """Until an Input (the one with ``input_id`` if given) of the screen on
    top has the focus; that Input."""
    def focused() -> Input | None:
        widget = pilot.app.focused
        if isinstance(widget, Input) and widget.screen is pilot.app.screen:
            if input_id is None or widget.id == input_id:
                return widget
        return None

    await until(pilot, focused, what=f"input {input_id or ''} focused")
    found = focused()
    assert found is not None
    return found
