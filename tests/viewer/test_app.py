"""Pilot tests of the viewer's flows on deterministic flows (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from textual.widgets import Input, TabbedContent, Tree

from dspscope.viewer.app import DspscopeApp
from dspscope.viewer.controls import RuleInfo
from dspscope.viewer.screens.help import HelpScreen
from dspscope.viewer.screens.job import JobScreen
from dspscope.viewer.sources import CaptureSource, FlowsSource
from dspscope.viewer.widgets.exchange_list import ExchangeList
from dspscope.viewer.widgets.rules_panel import RuleList
from tests.viewer.conftest import SIZE, sample_app
from tests.viewer.factory import sample
from tests.viewer.pilot import screen_text, until


def tree_labels(node: Any) -> list[str]:
    out = []
    for child in node.children:
        out.append(str(child.label))
        out.extend(tree_labels(child))
    return out


async def answer(pilot: Any, text: str) -> None:
    """Fill the focused input (a prompt, the filter bar) and press enter."""
    focused = pilot.app.focused
    assert isinstance(focused, Input), focused
    focused.value = text
    await pilot.press("enter")


async def loaded(pilot: Any, count: int = 25) -> None:
    await until(pilot, lambda: len(pilot.app.session.store) == count, what=f"{count} rows")
    await pilot.pause(0.2)


async def test_select_an_exchange_shows_its_detail() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        listing = app.screen.query_one(ExchangeList)
        assert listing.cursor == 24  # follows the newest
        listing.cursor = 7
        await pilot.pause(0.3)
        row = listing.current()
        assert row is not None and row.fault == "ServerErrorTemporaryError"
        labels = tree_labels(app.screen.query_one(Tree).root)
        assert "subcode = ServerErrorTemporaryError" in labels
        assert "JobToken = 264c250e-7c1d-4e2a-9b3f-000000000002" in labels
        await pilot.press("right_square_bracket")
        await pilot.pause(0.3)
        assert app.screen.query_one("#detail-tabs", TabbedContent).active == "xml"
        text = screen_text(pilot)
        assert "── request" in text and "<dsp:SendImageRequest>" in text


async def test_filter_narrows_the_list_and_reports_errors() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        listing = app.screen.query_one(ExchangeList)
        listing.cursor = 7  # the fault: still under the cursor once filtered
        await pilot.press("slash", *"op:send", "enter")
        await until(pilot, lambda: len(app.session.store.view) == 9, what="filter applied")
        current = listing.current()
        assert current is not None and current.fault == "ServerErrorTemporaryError"
        await pilot.press("slash", "ctrl+a", "ctrl+k", *" fault", "enter")
        await until(pilot, lambda: len(app.session.store.view) == 1, what="filter applied")
        await pilot.pause(0.2)
        assert "1 match" in screen_text(pilot)
        assert app.screen.query_one(ExchangeList).count == 1
        await pilot.press("slash")
        await answer(pilot, "colour:red")
        await pilot.pause(0.4)
        assert "unknown field colour" in screen_text(pilot)
        assert len(app.session.store.view) == 1  # the last good filter stays


async def test_open_a_job_and_go_back_to_an_exchange() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("2")
        await pilot.pause(0.2)
        await pilot.press("home", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, JobScreen), what="job screen")
        screen = app.screen
        assert isinstance(screen, JobScreen)
        assert screen.job.faults == ["SendImage: ServerErrorTemporaryError"]
        await pilot.pause(0.2)
        text = screen_text(pilot)
        assert "CreatePostScanJob" in text and "PostScanJobEndStateEvent" in text
        await pilot.press("down", "o")
        await until(pilot, lambda: not isinstance(app.screen, JobScreen), what="back")
        row = app.screen.query_one(ExchangeList).current()
        assert row is not None and row.fault == "ServerErrorTemporaryError"
        await pilot.press("J")
        await until(pilot, lambda: isinstance(app.screen, JobScreen), what="job of exchange")


class FakeRules:
    def __init__(self) -> None:
        self.rules = {"busy-on-image": False, "slow-job-creation": True}
        self.calls: list[tuple[str, bool]] = []

    def status(self) -> list[RuleInfo]:
        return [RuleInfo(name, on, 3, f"does {name}") for name, on in self.rules.items()]

    def set_enabled(self, name: str, enabled: bool) -> str | None:
        self.calls.append((name, enabled))
        self.rules[name] = enabled
        return None

    def reload(self) -> str | None:
        return "Rules reloaded."

    def presets(self) -> list[tuple[str, str]]:
        return [("busy-server", "a busy server")]

    def load_preset(self, name: str) -> str | None:
        self.rules[f"{name}-rule"] = True
        return None


async def test_toggle_a_rule_and_load_a_preset() -> None:
    source = FlowsSource(sample(1).flows)
    fake = FakeRules()
    source.rules = fake  # type: ignore[assignment]
    app = DspscopeApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        rules = app.screen.query_one(RuleList)
        await until(pilot, lambda: rules.count == 2, what="rules listed")
        await pilot.press("home", "space")
        await until(pilot, lambda: fake.calls == [("busy-on-image", True)], what="toggle")
        await until(pilot, lambda: rules.rules[0].enabled, what="list refreshed")
        await pilot.press("p")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await until(pilot, lambda: rules.count == 3, what="preset loaded")


async def test_help_lists_keys_of_every_part() -> None:
    app = sample_app(1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.pause(0.2)
        console = Console(width=200, color_system=None)
        with console.capture() as capture:
            console.print(app.screen._keys(), app.screen._language())  # type: ignore[attr-defined]
        help_text = capture.get()
        for words in ("Intercept", "Replay", "Save capture", "Forward", "Answer with a fault",
                      "On/off", "Zoom detail", "xpath:EXPR"):
            assert words in help_text, words
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_save_then_open_the_capture(tmp_path: Path) -> None:
    target = tmp_path / "session.mitm"
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        await answer(pilot, str(target))
        await until(pilot, target.exists, what="capture written")
    reopened = DspscopeApp(CaptureSource([target]))
    async with reopened.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        store = reopened.session.store
        assert [r.operation for r in store.rows] == [r.operation for r in app.session.store.rows]
        assert len(store.jobs()) == 4 and store.rows[7].rules == ("busy-server",)


async def test_export_jsonl_and_har_of_the_filtered_rows(tmp_path: Path) -> None:
    import json

    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"op:send", "enter")
        await until(pilot, lambda: len(app.session.store.view) == 9, what="filter")
        for name in ("out.jsonl", "out.har"):
            await pilot.press("x")
            await pilot.pause(0.2)
            await answer(pilot, str(tmp_path / name))
            await until(pilot, (tmp_path / name).exists, what=name)
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 9 and {json.loads(x)["operation"] for x in lines} == {"SendImage"}
    har = json.loads((tmp_path / "out.har").read_text())
    assert len(har["log"]["entries"]) == 9


async def test_mouse_and_command_palette() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        listing = app.screen.query_one(ExchangeList)
        await pilot.click(ExchangeList, offset=(20, 3))  # the third row under the header
        await pilot.pause(0.2)
        assert listing.cursor == listing.scroll_offset.y + 2
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"show jobs")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.query_one("#views", TabbedContent).active == "jobs",
                    what="jobs view from the palette")


async def test_save_an_attachment(tmp_path: Path) -> None:
    target = tmp_path / "page.png"
    app = sample_app(1)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 6)
        listing = app.screen.query_one(ExchangeList)
        listing.cursor = 1
        await pilot.pause(0.3)
        app.screen.query_one("#detail-tabs", TabbedContent).active = "attachments"
        await pilot.pause(0.2)
        await pilot.press("enter")  # into the open tab
        await pilot.pause(0.2)
        await pilot.press("s")
        await pilot.pause(0.2)
        await answer(pilot, str(target))
        await until(pilot, target.exists, what="attachment saved")
    flow = app.session.flows.get(app.session.store.rows[1].id)
    assert flow is not None
    assert target.read_bytes() in flow.request.content
    assert target.read_bytes().startswith(b"\x89PNG")


async def test_enter_moves_to_the_detail_and_escape_comes_back() -> None:
    app = sample_app(1)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 6)
        listing = app.screen.query_one(ExchangeList)
        listing.cursor = 1
        await pilot.pause(0.3)
        listing.focus()
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert not listing.display and not listing.has_focus  # the list makes room
        detail = app.screen.query_one("#detail")
        assert detail.has_focus_within
        assert detail.region.height > SIZE[1] // 2
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert listing.display and listing.has_focus and listing.cursor == 1


async def test_save_an_attachment_from_the_list(tmp_path: Path) -> None:
    target = tmp_path / "page.png"
    app = sample_app(1)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 6)
        listing = app.screen.query_one(ExchangeList)
        listing.cursor = 0  # CreatePostScanJob: nothing to save
        await pilot.pause(0.3)
        listing.focus()
        await pilot.press("s")
        await until(pilot, lambda: any("no attachments" in n.message for n in app._notifications),
                    what="the warning")
        listing.cursor = 1  # a SendImage; the detail shows its Decoded tab
        await pilot.pause(0.3)
        assert app.screen.query_one("#detail-tabs", TabbedContent).active == "decoded"
        await pilot.press("s")
        await pilot.pause(0.2)
        await answer(pilot, str(target))
        await until(pilot, target.exists, what="attachment saved")
    flow = app.session.flows.get(app.session.store.rows[1].id)
    assert flow is not None and target.read_bytes() in flow.request.content
    assert target.read_bytes().startswith(b"\x89PNG")
    assert target.stat().st_mode & 0o777 == 0o600  # a scanned page, kept like captures


async def test_a_view_that_shrinks_before_the_list_knows_draws_blanks() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        listing = app.screen.query_one(ExchangeList)
        del app.session.store.view[3:]  # as a row update or a filter can, mid-flush
        listing.invalidate()
        await pilot.pause(0.2)
        assert app.is_running and listing.count == 25
        listing.sync(changed=True)
        await pilot.pause(0.1)
        assert listing.count == 3 and listing.cursor == 2
