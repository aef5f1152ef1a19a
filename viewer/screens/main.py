"""The main screen: filter bar, Exchanges (list + detail), Jobs, Rules, Log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static, TabbedContent, TabPane

from dspscope.viewer.filters import FilterError, parse
from dspscope.viewer.messages import (
    FilterApplied,
    FilterSubmitted,
    InterceptChanged,
    LogLines,
    Progress,
    ProxyState,
    RowsChanged,
    ShowExchange,
)
from dspscope.viewer.safe import literal
from dspscope.viewer.store import Row
from dspscope.viewer.widgets.detail import Detail
from dspscope.viewer.widgets.exchange_list import ExchangeList
from dspscope.viewer.widgets.filter_bar import FilterBar
from dspscope.viewer.widgets.job_list import JobList
from dspscope.viewer.widgets.log_panel import LogPanel
from dspscope.viewer.widgets.row_list import RowList
from dspscope.viewer.widgets.rules_panel import RulesPanel
from dspscope.viewer.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from dspscope.viewer.app import DspscopeApp

DETAIL_DELAY = 0.12
#: Above this many rows a filter runs in a worker thread.  A field filter
#: over 100k rows takes ~30 ms inline, while the hand-off to a worker and
#: back cost ~150 ms more (benchmark figure 4), so only huge sessions and
#: xpath filters go to the thread.
THREAD_FILTER_ROWS = 300_000


class MainScreen(Screen[None]):
    HELP_TITLE = "main screen"  # its group in the help screen
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("1", "view('exchanges')", "Exchanges", show=False),
        Binding("2", "view('jobs')", "Jobs", show=False),
        Binding("3", "view('rules')", "Rules", show=False),
        Binding("4", "view('log')", "Log", show=False),
        Binding("J", "open_job", "Job of exchange", show=False),
        Binding("z", "zoom", "Zoom detail", show=False),
        Binding("s", "save_attachment", "Save attachment", show=False),
        Binding("f", "follow", "Follow newest", show=False),
        Binding("escape", "back", "Back", show=False),
        *Detail.TAB_BINDINGS,
    ]
    CSS_PATH = "main.tcss"

    app: DspscopeApp

    def __init__(self) -> None:
        super().__init__()
        self._detail_timer: Timer | None = None
        self._filter_generation = 0
        #: The row to keep under the cursor when the filter changes.
        self._keep: Row | None = None

    def compose(self) -> ComposeResult:
        store = self.app.session.store
        yield Static(id="title")
        yield FilterBar(id="filter-bar")
        with TabbedContent(id="views", initial="exchanges"):
            with TabPane("Exchanges", id="exchanges"), Vertical(id="exchanges-pane"):
                yield ExchangeList(store, id="exchange-list")
                yield Detail(id="detail")
            with TabPane("Jobs", id="jobs"):
                yield JobList(store, id="job-list")
            with TabPane("Rules", id="rules"):
                yield RulesPanel(self.app.rules, id="rules-panel")
            with TabPane("Log", id="log"):
                yield LogPanel(id="log-panel")
        yield StatusBar(id="status-bar")
        yield Footer()

    def on_mount(self) -> None:
        title = Text("dspscope", style="bold")
        title.append("  —  ")
        title.append_text(literal(self.app.source_title, limit=150))
        self.query_one("#title", Static).update(title)
        status = self.status_bar
        status.source = self.app.source_kind
        status.refresh_text()
        self.query_one(ExchangeList).focus()

    # -------------------------------------------------------------- parts

    @property
    def exchanges(self) -> ExchangeList:
        return self.query_one(ExchangeList)

    @property
    def detail(self) -> Detail:
        return self.query_one(Detail)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def log_panel(self) -> LogPanel:
        return self.query_one(LogPanel)

    @property
    def filter_text(self) -> str:
        """What the filter bar holds now."""
        return self.query_one(FilterBar).value

    def set_filter(self, text: str) -> None:
        """Filter the exchanges by ``text`` (as if typed in the filter bar)."""
        self.query_one(FilterBar).set_value(text)

    @property
    def rules_panel(self) -> RulesPanel:
        return self.query_one(RulesPanel)

    def focus_next_list(self) -> None:
        active = self.query_one("#views", TabbedContent).active
        target = {"exchanges": "#exchange-list", "jobs": "#job-list", "rules": "#rule-list",
                  "log": "#log-panel"}.get(active, "#exchange-list")
        self.query_one(target).focus()

    # ---------------------------------------------------------- new data

    def on_rows_changed(self, message: RowsChanged) -> None:
        store = self.app.session.store
        self.exchanges.sync(changed=message.changed)
        if self.query_one("#views", TabbedContent).active == "jobs":
            self.query_one(JobList).sync()
        status = self.status_bar
        status.total, status.shown = len(store.rows), len(store.view)
        status.jobs = len(store.tracker.jobs)
        status.paused = self.app.paused_count
        status.refresh_text()
        if message.changed:
            self._schedule_detail(force=True)

    def on_proxy_state(self, message: ProxyState) -> None:
        status = self.status_bar
        status.proxy, status.level = message.text, message.level
        status.refresh_text()

    def on_progress(self, message: Progress) -> None:
        self.status_bar.progress = message.text
        self.status_bar.refresh_text()

    def on_intercept_changed(self, message: InterceptChanged) -> None:
        self.status_bar.intercept = message.filter
        self.status_bar.refresh_text()

    def on_log_lines(self, message: LogLines) -> None:
        for level, text, stamp in message.lines:
            self.log_panel.add(level, text, stamp)

    def on_show_exchange(self, message: ShowExchange) -> None:
        self.select_exchange(message.exchange_id)

    # ------------------------------------------------------------ filter

    def on_filter_submitted(self, message: FilterSubmitted) -> None:
        store = self.app.session.store
        self._keep = self._keep or self.exchanges.current()
        try:
            query = parse(message.text)
        except FilterError as exc:
            self.post_message(FilterApplied(message.text, len(store.view), str(exc)))
            return
        self._filter_generation += 1
        upto = len(store.rows)
        if upto > THREAD_FILTER_ROWS or query.needs_documents:
            self.status_bar.progress = "filtering…"
            self.status_bar.refresh_text()
            self._filter_in_thread(query, upto, self._filter_generation)
        else:
            store.set_view(query, store.filter(query, upto), upto)
            self.exchanges.sync(changed=True)
            self.post_message(FilterApplied(message.text, len(store.view)))

    @work(thread=True, exclusive=True, group="filter")
    def _filter_in_thread(self, query: object, upto: int, generation: int) -> None:
        store = self.app.session.store
        indices = store.filter(query, upto)  # type: ignore[arg-type]
        self.app.call_from_thread(self._filtered, query, indices, upto, generation)

    def _filtered(self, query: object, indices: list[int], upto: int, generation: int) -> None:
        if generation != self._filter_generation:
            return
        store = self.app.session.store
        store.set_view(query, indices, upto)  # type: ignore[arg-type]
        self.exchanges.sync(changed=True)
        self.status_bar.progress = ""
        self.post_message(FilterApplied(store.query.text, len(store.view)))

    def on_filter_applied(self, message: FilterApplied) -> None:
        self.query_one(FilterBar).show_result(message)
        if message.error is None:
            listing = self.exchanges
            keep, self._keep = self._keep, None
            listing.sync(changed=True)
            if keep is None or not listing.select_row(keep):
                listing.cursor = listing.count - 1 if listing.follow else 0
            self.status_bar.shown = len(self.app.session.store.view)
            self.status_bar.refresh_text()
            self._schedule_detail(force=True)

    # ------------------------------------------------------------ detail

    @on(RowList.Highlighted, "#exchange-list")
    def _highlighted(self, event: RowList.Highlighted) -> None:
        self._schedule_detail()

    def _schedule_detail(self, force: bool = False) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY, lambda: self._show_detail(force))

    def _show_detail(self, force: bool = False) -> None:
        row = self.exchanges.current()
        if force:
            self.detail.row = None
        self.detail.show(row, self.app.session.flow(row) if row is not None else None)

    @on(RowList.Opened, "#exchange-list")
    def _opened(self, event: RowList.Opened) -> None:
        row = self.exchanges.current()
        if row is None:
            return
        if row.paused:
            self.app.open_intercept(row)
            return
        # the detail takes the whole pane, so the move is seen; escape comes back
        self.query_one("#exchanges-pane").add_class("-zoomed")
        self._show_detail()
        self.detail.focus_content()

    @on(RowList.Opened, "#job-list")
    def _job_opened(self, event: RowList.Opened) -> None:
        job = self.query_one(JobList).current()
        if job is not None and job.token:
            self.app.open_job(job.token)

    # ----------------------------------------------------------- actions

    def current_row(self) -> Row | None:
        return self.exchanges.current()

    def action_focus_filter(self) -> None:
        self.query_one(FilterBar).input.focus()

    def action_view(self, view: str) -> None:
        self.query_one("#views", TabbedContent).active = view
        if view == "jobs":
            self.query_one(JobList).sync(force=True)
        self.focus_next_list()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "views" and event.pane is not None and event.pane.id == "jobs":
            self.query_one(JobList).sync(force=True)

    def action_open_job(self) -> None:
        row = self.current_row()
        if row is None or not row.job:
            self.app.say("This exchange belongs to no job.", "warning")
            return
        self.app.open_job(row.job)

    def action_detail_tab(self, step: int) -> None:
        self.detail.action_tab(step)

    def action_save_attachment(self) -> None:
        """Save the exchange's attachment (the one picked in the Attachments
        tab, else the first) from the list as from the tab."""
        from dspscope.viewer.detail_text import attachments_of
        from dspscope.viewer.widgets.attachments import Attachments

        row = self.current_row()
        flow = self.app.session.flow(row) if row is not None else None
        items = list(attachments_of(flow, row.record)) if flow is not None and row is not None else []
        if not items:
            self.app.say("This exchange has no attachments.", "warning")
            return
        shown = self.query_one(Attachments)
        index = shown.index if shown.flow is flow and shown.index < len(items) else 0
        self.app.action_save_attachment(flow, items[index])

    def action_zoom(self) -> None:
        self.query_one("#exchanges-pane").toggle_class("-zoomed")

    def action_follow(self) -> None:
        self.exchanges.follow = True
        self.exchanges.action_jump(-1)

    def action_back(self) -> None:
        self.query_one("#exchanges-pane").remove_class("-zoomed")
        self.focus_next_list()

    def select_exchange(self, exchange_id: str) -> bool:
        row = self.app.session.store.row(exchange_id)
        if row is None:
            return False
        self.action_view("exchanges")
        if not self.exchanges.select_row(row):
            self._keep = row
            self.query_one(FilterBar).set_value("")
        return True
