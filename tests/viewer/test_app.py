"""Pilot tests of the viewer's flows on deterministic flows (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from textual.command import CommandList, CommandPalette
from textual.widgets import TabbedContent, Tree

from dspscope.viewer.app import DspscopeApp
from dspscope.viewer.controls import RuleInfo
from dspscope.viewer.screens.choose import Choose
from dspscope.viewer.screens.help import HelpScreen
from dspscope.viewer.screens.job import JobScreen
from dspscope.viewer.sources import CaptureSource, FlowsSource
from dspscope.viewer.widgets.attachments import Attachments
from dspscope.viewer.widgets.exchange_list import ExchangeList
from dspscope.viewer.widgets.job_list import JobList
from dspscope.viewer.widgets.rules_panel import RuleList
from tests.viewer.conftest import SIZE, sample_app
from tests.viewer.factory import sample
from tests.viewer.pilot import detail_drawn, input_focused, screen_text, shown, until


def tree_labels(node: Any) -> list[str]:
    out = []
    for child in node.children:
        out.append(str(child.label))
        out.extend(tree_labels(child))
    return out


async def answer(pilot: Any, text: str) -> None:
    """Fill the focused input (a prompt, the filter bar), once it has the
    focus, and press enter."""
    focused = await input_focused(pilot)
    focused.value = text
    await pilot.press("enter")


async def loaded(pilot: Any, count: int = 25) -> None:
    await until(pilot, lambda: len(pilot.app.session.store) == count, what=f"{count} rows")
    # The list takes rows from its inbox every 100 ms: all shown, and the
    # detail of the newest, before a test moves the cursor.
    await until(pilot, lambda: pilot.app.main.exchanges.count == count, what=f"{count} rows shown")
    await detail_drawn(pilot)


async def test_select_an_exchange_shows_its_detail() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        listing = app.screen.query_one(ExchangeList)
        assert listing.cursor == 24  # follows the newest
        listing.cursor = 7
        await detail_drawn(pilot)
        row = listing.current()
        assert row is not None and row.fault == "ServerErrorTemporaryError"
        labels = tree_labels(app.screen.query_one(Tree).root)
        assert "subcode = ServerErrorTemporaryError" in labels
        assert "JobToken = 264c250e-7c1d-4e2a-9b3f-000000000002" in labels
        await pilot.press("right_square_bracket")
        text = await shown(pilot, "<dsp:SendImageRequest>")
        assert app.screen.query_one("#detail-tabs", TabbedContent).active == "xml"
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
        await until(pilot, lambda: listing.count == 1, what="one row listed")
        await shown(pilot, "1 match")
        await pilot.press("slash")
        await answer(pilot, "colour:red")
        await shown(pilot, "unknown field colour")
        assert len(app.session.store.view) == 1  # the last good filter stays


async def test_open_a_job_and_go_back_to_an_exchange() -> None:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("2")
        await until(pilot, lambda: app.screen.query_one("#views", TabbedContent).active == "jobs"
                    and app.screen.query_one(JobList).count == 4, what="the four jobs listed")
        await pilot.press("home", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, JobScreen), what="job screen")
        screen = app.screen
        assert isinstance(screen, JobScreen)
        assert screen.job.faults == ("SendImage: ServerErrorTemporaryError",)
        await shown(pilot, "CreatePostScanJob", "PostScanJobEndStateEvent")
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
        await until(pilot, lambda: isinstance(app.screen, Choose) and app.focused is not None
                    and app.focused.screen is app.screen, what="the preset chooser focused")
        await pilot.press("enter")
        await until(pilot, lambda: rules.count == 3, what="preset loaded")


async def test_help_lists_keys_of_every_part() -> None:
    app = sample_app(1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.pause()
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
        await until(pilot, lambda: listing.cursor == listing.scroll_offset.y + 2,
                    what="the clicked row under the cursor")
        await pilot.press("ctrl+p")
        await input_focused(pilot)
        await pilot.press(*"show jobs")

        def found() -> bool:
            if not isinstance(app.screen, CommandPalette):
                return False
            hits = app.screen.query_one(CommandList)
            return hits.option_count > 0 and hits.highlighted is not None

        await until(pilot, found, what="the palette's search found a command")
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
        await detail_drawn(pilot)
        app.screen.query_one("#detail-tabs", TabbedContent).active = "attachments"
        attachments = app.screen.query_one(Attachments)
        await until(pilot, lambda: attachments.drawn is not None, what="the attachment shown")
        await pilot.press("enter")  # into the open tab
        await until(pilot, lambda: app.focused is attachments, what="the attachments focused")
        await pilot.press("s")
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
        await detail_drawn(pilot)
        listing.focus()
        await pilot.press("enter")
        await until(pilot, lambda: not listing.display and not listing.has_focus,
                    what="the list out of the way")  # the list makes room
        detail = app.screen.query_one("#detail")
        assert detail.has_focus_within
        assert detail.region.height > SIZE[1] // 2
        await pilot.press("escape")
        await until(pilot, lambda: listing.display and listing.has_focus, what="the list back")
        assert listing.cursor == 1


async def test_save_an_attachment_from_the_list(tmp_path: Path) -> None:
    target = tmp_path / "page.png"
    app = sample_app(1)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 6)
        listing = app.screen.query_one(ExchangeList)
        listing.cursor = 0  # CreatePostScanJob: nothing to save
        await detail_drawn(pilot)
        listing.focus()
        await pilot.press("s")
        await until(pilot, lambda: any("no attachments" in n.message for n in app._notifications),
                    what="the warning")
        listing.cursor = 1  # a SendImage; the detail shows its Decoded tab
        await detail_drawn(pilot)
        assert app.screen.query_one("#detail-tabs", TabbedContent).active == "decoded"
        await pilot.press("s")
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
        await pilot.pause()
        screen_text(pilot)  # draws every line of the list now, past the end of the view
        assert app.is_running and listing.count == 25
        listing.sync(changed=True)
        await until(pilot, lambda: listing.count == 3, what="the list synced to the view")
        assert listing.cursor == 2


def test_help_groups_come_from_each_class_s_bindings() -> None:
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.screens.help import binding_groups
    from dspscope.viewer.screens.main import MainScreen

    groups = binding_groups(DspscopeApp, MainScreen())
    titles = [title for title, _ in groups]
    assert titles[:2] == ["everywhere", "main screen"]  # where help was opened, first
    assert {"job timeline", "intercept editor", "replay", "rules view", "filter bar",
            "attachments tab", "lists (exchanges, jobs, timeline)"} <= set(titles)
    assert len(titles) == len(set(titles))
    keys = {(title, b.key) for title, bindings in groups for b in bindings}
    assert ("main screen", "z") in keys and ("intercept editor", "ctrl+g") in keys
