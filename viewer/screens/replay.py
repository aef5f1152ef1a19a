"""Replay an exchange to its server and show the new answer beside the old.

The replay itself is ``addons.replay.client`` (fresh MessageIDs, live
JobTokens, the semantic comparison).  A request that belongs to a job is
replayed with the job's earlier requests first, so the server knows the job;
the screen shows the selected exchange's result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mitmproxy import http
from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from dspscope.viewer import format as fmt
from dspscope.viewer.detail_text import body_of, code
from dspscope.viewer.safe import literal
from dspscope.viewer.store import Row
from dspscope.viewer.xmltext import pretty

if TYPE_CHECKING:
    from dspscope.viewer.app import DspscopeApp


def target_of(flow: http.HTTPFlow) -> str:
    request = flow.request
    return f"{request.scheme}://{request.host}:{request.port}"


def differences_text(result: Any) -> Text:
    out = Text(end="")
    if result.error:
        out.append("transport error: ", style="bold red")
        out.append_text(literal(str(result.error), limit=1000))
        out.append("\n")
    if result.ok and not result.error:
        out.append("Same behaviour as recorded ", style="bold green")
        out.append("(MessageIDs, JobTokens, times and server addresses are not compared)\n",
                   style="dim")
    for difference in result.differences:
        style = "bold red" if difference.severity == "error" else "yellow"
        out.append(f"{difference.severity:<8}", style=style)
        out.append_text(literal(difference.text(), limit=1000))
        out.append("\n")
    return out


class ReplayScreen(Screen[None]):
    HELP_TITLE = "replay"  # its group in the help screen
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "again", "Replay again"),
    ]
    CSS_PATH = "replay.tcss"

    app: DspscopeApp

    def __init__(self, row: Row, flow: http.HTTPFlow, *, tls: Any = True) -> None:
        super().__init__()
        self.row = row
        self.flow = flow
        #: an SSLContext, True (system roots) or False (no certificate checks)
        self.tls = tls

    def compose(self) -> ComposeResult:
        yield Static(id="replay-head")
        with Horizontal():
            with ScrollableContainer(id="replay-old"):
                yield Static(id="replay-old-body")
            with ScrollableContainer(id="replay-new"):
                yield Static(id="replay-new-body")
        with Vertical(id="replay-differences"):
            yield Static(id="replay-result")
        yield Footer()

    def current_row(self) -> Row | None:
        return self.row

    def on_mount(self) -> None:
        dark = self.app.current_theme.dark
        response = self.flow.response
        old: RenderableType = Text("(no recorded response)", style="dim")
        if response is not None:
            old = code(pretty(body_of(response), response.headers.get("content-type")), "xml", dark=dark)
        status = response.status_code if response is not None else None
        self.query_one("#replay-old-body", Static).update(Group(
            Text(f"recorded  HTTP {fmt.status(status)}  {fmt.millis(self.row.latency)}", style="bold"),
            old))
        self.action_again()

    def action_again(self) -> None:
        head = Text("replaying ", style="bold")
        head.append_text(literal(self.row.operation or self.row.method, limit=60))
        head.append(" to ")
        head.append_text(literal(target_of(self.flow), limit=200))
        self.query_one("#replay-head", Static).update(head)
        self.query_one("#replay-new-body", Static).update(Text("waiting for the server…", style="dim"))
        self.query_one("#replay-result", Static).update("")
        self.run_worker(self._replay(), exclusive=True, group="replay")

    def _flows(self) -> list[http.HTTPFlow]:
        """The exchange, after its job's earlier requests (the server needs the job)."""
        store = self.app.session.store
        job = store.job_of(self.row)
        if job is None or self.row.operation == "CreatePostScanJob":
            return [self.flow]
        flows = []
        for row in store.rows_of(job):
            if row.kind == "event" or row.pending:
                continue
            flow = self.app.session.flow(row)
            if flow is not None:
                flows.append(flow)
            if row.id == self.row.id:
                break
        return flows or [self.flow]

    async def _replay(self) -> None:
        from dspscope.replay.client import ClientOptions, replay_flows

        flows = self._flows()
        options = ClientOptions(ssl=self.tls, events=False, concurrency=1,
                                request_timeout=30.0)
        try:
            report = await replay_flows(flows, target_of(self.flow), options)
        except Exception as exc:  # noqa: BLE001 - any failure is shown, not raised
            self.query_one("#replay-new-body", Static).update(
                literal(f"replay failed: {exc}", style="bold red", limit=1000))
            return
        result = next((r for r in report.results if r.recorded.id == self.flow.id), None)
        if result is None:
            self.query_one("#replay-new-body", Static).update(Text("nothing was replayed", style="dim"))
            return
        self._show(result, len(flows))

    def _show(self, result: Any, count: int) -> None:
        from dspscope.wsdsp import encode

        dark = self.app.current_theme.dark
        title = Text(f"live  HTTP {fmt.status(result.status)}  {fmt.seconds(result.latency)}",
                     style="bold")
        if count > 1:
            title.append(f"  (after replaying {count - 1} earlier request(s) of the job)", style="dim")
        body: RenderableType = Text("(no answer)", style="dim")
        if result.live is not None and result.live.protocol != "not-soap":
            body = code(pretty(encode(result.live).content), "xml", dark=dark)
            title.append("\nre-encoded from the decoded answer", style="dim")
        self.query_one("#replay-new-body", Static).update(Group(title, body))
        self.query_one("#replay-result", Static).update(differences_text(result))
