"""One job: its summary and its timeline (create → images → end → events),
with the detail of the step under the cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from dspscope.viewer import format as fmt
from dspscope.viewer.messages import RowsChanged, ShowExchange
from dspscope.viewer.safe import literal
from dspscope.viewer.store import Row
from dspscope.viewer.widgets.detail import Detail
from dspscope.viewer.widgets.job_list import outcome_of
from dspscope.viewer.widgets.row_list import RowList
from dspscope.viewer.widgets.timeline import Timeline
from dspscope.wsdsp.jobs import Job

if TYPE_CHECKING:
    from dspscope.viewer.app import DspscopeApp


def summary_text(job: Job, rows: list[Row]) -> Text:
    """The job's header: who, what, how it went."""
    out = Text(end="")
    if job.protocol == "ws-scan":
        out.append(f"WS-Scan job {job.job_id if job.job_id is not None else '?'}  ", style="bold")
    else:
        out.append("job ", style="bold")
    out.append_text(literal(job.token or "(no token)", style="bold", limit=80))
    out.append(f"   {job.state.value}", style="bold")
    outcome = outcome_of(job)
    if outcome:
        out.append("   ")
        out.append_text(literal(outcome, limit=80))
    out.append("\n")
    labels = ((("client", job.device), ("user", job.user), ("source", job.source),
               ("job name", job.document_root)) if job.protocol == "ws-scan" else
              (("device", job.device), ("user", job.user), ("scan process", job.psp_id),
               ("document root", job.document_root)))
    for label, value in labels:
        out.append(f"{label} ", style="dim")
        out.append_text(literal(value or "—", limit=80))
        out.append("   ")
    out.append("\n")
    duration = (job.ended_at or job.updated_at) - job.created_at
    reported = "" if job.images_reported is None else f" (server reports {job.images_reported})"
    out.append(f"created {fmt.date_time(job.created_at)}   duration {fmt.seconds(duration)}   "
               f"images {job.images}{reported}   events {job.events}   "
               f"exchanges {len(rows)}   faults {len(job.faults)}")
    if job.findings:
        out.append(f"   findings {len(job.findings)}", style="bold")
    return out


class JobScreen(Screen[None]):
    HELP_TITLE = "job timeline"  # its group in the help screen
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("o", "go_to_exchange", "Show in exchanges"),
        *Detail.TAB_BINDINGS,
    ]
    CSS_PATH = "job.tcss"

    app: DspscopeApp

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def _rows(self) -> list[Row]:
        return self.app.session.store.rows_of(self.job)

    def compose(self) -> ComposeResult:
        rows = self._rows()
        yield Static(summary_text(self.job, rows), id="job-summary")
        with Vertical():
            yield Timeline(rows, self.job.created_at, id="timeline")
            yield Detail(id="job-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Timeline).focus()
        self._show_current()

    def on_rows_changed(self, message: RowsChanged) -> None:
        rows = self._rows()
        timeline = self.query_one(Timeline)
        if len(rows) != len(timeline.rows) or message.changed:
            timeline.update_rows(rows)
            self.query_one("#job-summary", Static).update(summary_text(self.job, rows))

    def current_row(self) -> Row | None:
        return self.query_one(Timeline).current()

    @on(RowList.Highlighted, "#timeline")
    def _highlighted(self, event: RowList.Highlighted) -> None:
        self._show_current()

    @on(RowList.Opened, "#timeline")
    def _opened(self, event: RowList.Opened) -> None:
        self.query_one(Detail).focus_content()

    def _show_current(self) -> None:
        row = self.current_row()
        self.query_one(Detail).show(row, self.app.session.flow(row) if row else None)

    def action_detail_tab(self, step: int) -> None:
        self.query_one(Detail).action_tab(step)

    def action_go_to_exchange(self) -> None:
        row = self.current_row()
        main = self.app.main
        if row is None or main is None:
            return
        self.app.pop_screen()
        main.post_message(ShowExchange(row.id))
