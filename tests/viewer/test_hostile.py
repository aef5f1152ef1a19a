"""Markup and terminal-control injection in every captured field: shown
literally, no action fired, nothing raw reaches the terminal, no crash."""

from __future__ import annotations

from typing import Any

import pytest

from dspscope.viewer.app import DspscopeApp
from dspscope.viewer.screens.help import HelpScreen
from dspscope.viewer.screens.job import JobScreen
from dspscope.viewer.sources import FlowsSource
from dspscope.viewer.widgets.detail import TABS
from tests.viewer.conftest import SIZE
from tests.viewer.factory import hostile
from tests.viewer.hostile import ALL_IN_ONE, RAW_CONTROLS
from tests.viewer.pilot import detail_drawn, until


def raw_screen(pilot: Any) -> str:
    strips = pilot.app.screen._compositor.render_strips()  # noqa: SLF001
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def assert_clean(pilot: Any) -> str:
    shown = raw_screen(pilot)
    for raw in RAW_CONTROLS:
        assert raw not in shown, repr(raw)
    return shown


@pytest.mark.slow  # every tab of three rows, every view, under a pilot
async def test_every_view_shows_hostile_text_literally() -> None:
    text = ALL_IN_ONE
    flows = hostile(text).flows
    app = DspscopeApp(FlowsSource(flows, title=text))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(app.session.store) == len(flows), what="rows")
        app.inbox.log("warning", text)  # a log line quoting captured data
        app.inbox.notice(text, "error")  # and a toast
        # Both reach the app in one flush: the log line of the notice is there.
        await until(pilot, lambda: any(" error " in line for line in app.main.log_panel.lines),  # type: ignore[union-attr]
                    what="the notice delivered")
        await pilot.pause()
        assert_clean(pilot)
        # Create (XML), SendImage (MTOM, attachment), the event whose body is not XML.
        for position in (0, 1, len(flows) - 1):
            app.main.exchanges.cursor = position  # type: ignore[union-attr]
            await detail_drawn(pilot)
            for tab in TABS:
                app.main.detail.query_one("#detail-tabs").active = tab  # type: ignore[union-attr]
                await until(pilot, lambda tab=tab: app.main.detail.active == tab,  # type: ignore[union-attr]
                            what=f"the {tab} tab")
                await pilot.pause()
                shown = assert_clean(pilot)
                if tab == "findings":
                    assert "[@click=app.quit]x[/]" in shown and "\\x1b]0;evil\\x07" in shown
        # Click the notes cells, where the click action would sit in markup.
        for y in range(5, 12):
            await pilot.click(offset=(100, y))
        await pilot.press("slash")
        app.main.query_one("#filter-input").value = "[@click=app.quit]"  # type: ignore[union-attr]
        await pilot.press("enter")
        await app.workers.wait_for_complete()  # the filter runs in a worker
        await pilot.pause()
        assert_clean(pilot)
        for view in ("2", "3", "4", "1"):
            await pilot.press(view)
            await pilot.pause()
            assert_clean(pilot)
        await pilot.press("2", "enter")
        await until(pilot, lambda: isinstance(app.screen, JobScreen), what="job screen")
        await pilot.pause()
        assert_clean(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.pause()
        assert_clean(pilot)
        assert app.is_running and app.return_code is None
