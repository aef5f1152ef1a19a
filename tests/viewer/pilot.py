"""Helpers for pilot tests: wait for a condition while the app runs."""

from __future__ import annotations

from collections.abc import Callable

from textual.pilot import Pilot

from tests.helpers import eventually_async


async def until(pilot: Pilot[None], condition: Callable[[], object], timeout: float = 15.0,
                what: str = "condition") -> None:
    """Wait (tests/helpers.py's ``eventually_async``) while the app runs."""
    await eventually_async(condition, timeout, what, interval=0.05)


def screen_text(pilot: Pilot[None]) -> str:
    """What the terminal shows, as plain text lines."""
    strips = pilot.app.screen._compositor.render_strips()  # noqa: SLF001
    return "\n".join(strip.text for strip in strips)
