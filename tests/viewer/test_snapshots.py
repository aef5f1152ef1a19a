"""Snapshots of the main screens at 120x36 on deterministic flows.

Update after a deliberate change with ``pytest tests/viewer --snapshot-update``
and look at the pictures (the report shows the differences)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import TextArea

from dspscope.viewer.app import DspscopeApp
from dspscope.viewer.controls import Answer
from dspscope.viewer.screens.help import HelpScreen
from dspscope.viewer.screens.job import JobScreen
from dspscope.viewer.sources import FlowsSource
from dspscope.viewer.widgets.attachments import Attachments
from dspscope.viewer.widgets.detail import Detail
from dspscope.viewer.widgets.job_list import JobList
from dspscope.viewer.widgets.timeline import Timeline
from tests.viewer.conftest import SIZE, sample_app
from tests.viewer.factory import hostile, sample
from tests.viewer.hostile import ALL_IN_ONE
from tests.viewer.pilot import detail_drawn, shown, until

# Picture comparisons, seconds each: outside the fast lane (tests/viewer runs them).
pytestmark = pytest.mark.slow

FAULT_ROW = 7  # the SendImage a busy-server rule answered


def timeline_detail(pilot: Pilot[None]) -> bool:
    """The job screen's detail shows the second row of its timeline."""
    screen = pilot.app.screen
    row = screen.current_row() if isinstance(screen, JobScreen) else None
    return row is not None and row is screen.query_one(Timeline).rows[1] \
        and screen.query_one(Detail).row is row


async def ready(pilot: Pilot[None], rows: int = 25) -> None:
    app: Any = pilot.app
    await until(pilot, lambda: len(app.session.store) == rows, what="rows")
    # The list takes rows from its inbox every 100 ms: all must be shown
    # before a test moves the cursor, or a late batch moves it on.
    await until(pilot, lambda: app.main.exchanges.count == rows, what="rows shown")
    await detail_drawn(pilot)


def at_row(position: int, tab: str = "decoded") -> Any:
    async def run(pilot: Pilot[None]) -> None:
        await ready(pilot)
        app: Any = pilot.app
        app.main.exchanges.cursor = position
        app.main.detail.query_one("#detail-tabs").active = tab
        await until(pilot, lambda: app.main.exchanges.cursor == position, what="the cursor")
        await detail_drawn(pilot)
        await until(pilot, lambda: app.main.detail.active == tab, what=f"the {tab} tab")
        await pilot.pause()

    return run


def test_main_screen_on_a_fault(snap_compare: Any) -> None:
    assert snap_compare(sample_app(), terminal_size=SIZE, run_before=at_row(FAULT_ROW))


def test_xml_tab(snap_compare: Any) -> None:
    assert snap_compare(sample_app(), terminal_size=SIZE, run_before=at_row(FAULT_ROW, "xml"))


def test_attachment_preview(snap_compare: Any) -> None:
    async def run(pilot: Pilot[None]) -> None:
        await at_row(1, "attachments")(pilot)
        attachments = pilot.app.screen.query_one(Attachments)
        await until(pilot, lambda: attachments.drawn is not None, what="the preview")
        await pilot.pause()

    assert snap_compare(sample_app(), terminal_size=SIZE, run_before=run)


def test_findings_of_a_hostile_exchange(snap_compare: Any) -> None:
    flows = hostile(ALL_IN_ONE).flows
    app = DspscopeApp(FlowsSource(flows, title="hostile"))

    async def run(pilot: Pilot[None]) -> None:
        await ready(pilot, len(flows))
        view: Any = pilot.app
        view.main.exchanges.cursor = 1
        view.main.detail.query_one("#detail-tabs").active = "findings"
        await detail_drawn(pilot)
        await until(pilot, lambda: view.main.detail.active == "findings", what="the findings tab")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_jobs_view(snap_compare: Any) -> None:
    async def run(pilot: Pilot[None]) -> None:
        await ready(pilot)
        await pilot.press("2")
        await until(pilot, lambda: pilot.app.screen.query_one(JobList).count == 4, what="4 jobs")
        await pilot.pause()

    assert snap_compare(sample_app(), terminal_size=SIZE, run_before=run)


def test_job_timeline(snap_compare: Any) -> None:
    async def run(pilot: Pilot[None]) -> None:
        await ready(pilot)
        await pilot.press("2")
        await until(pilot, lambda: pilot.app.screen.query_one(JobList).count == 4, what="4 jobs")
        await pilot.press("home", "down", "enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, JobScreen), what="the job screen")
        await shown(pilot, "PostScanJobEndStateEvent")
        await pilot.press("down")
        await until(pilot, lambda: timeline_detail(pilot), what="the timeline's detail")
        await pilot.pause()

    assert snap_compare(sample_app(), terminal_size=SIZE, run_before=run)


def test_filtered_list_in_the_light_theme(snap_compare: Any) -> None:
    async def run(pilot: Pilot[None]) -> None:
        await ready(pilot)
        await pilot.press("T", "slash", *"fault", "enter")
        app: Any = pilot.app
        await until(pilot, lambda: app.main.exchanges.count == 1, what="the one fault listed")
        await shown(pilot, "1 match")
        await detail_drawn(pilot)

    assert snap_compare(sample_app(), terminal_size=SIZE, run_before=run)


def test_help_screen(snap_compare: Any) -> None:
    async def run(pilot: Pilot[None]) -> None:
        await ready(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="help")
        await pilot.pause()

    assert snap_compare(sample_app(), terminal_size=SIZE, run_before=run)


class HeldRequests:
    def set_filter(self, text: str | None) -> None: ...

    def forward(self, exchange_id: str, content: bytes | None = None) -> None: ...

    def answer(self, exchange_id: str, answer: Answer) -> None: ...

    def forward_all(self) -> int:
        return 0


def test_intercept_editor(snap_compare: Any) -> None:
    scenario = sample(1)
    paused = scenario.flows[0]
    paused.response = None
    del paused.metadata["dspscope"]
    paused.intercept()
    source = FlowsSource(scenario.flows[:1], title="paused request")
    source.intercept = HeldRequests()
    app = DspscopeApp(source)

    async def run(pilot: Pilot[None]) -> None:
        await ready(pilot, 1)
        await pilot.press("enter")
        await until(pilot, lambda: pilot.app.screen.query(TextArea), what="the intercept editor")
        # The screen focuses its first widget once it is active; the cursor
        # shows only then, so the blink stops after that (a steady picture).
        await until(pilot, lambda: pilot.app.screen.focused is not None, what="the editor focused")
        pilot.app.screen.query_one(TextArea).cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run)
