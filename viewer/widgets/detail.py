"""The detail of one exchange, in tabs.  Only the visible tab is drawn;
the others are drawn when they are opened."""

from __future__ import annotations

from typing import Any

from mitmproxy import http
from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer, Vertical
from textual.widgets import Static, TabbedContent, TabPane

from dspscope.viewer import detail_text
from dspscope.viewer.store import Row
from dspscope.viewer.widgets.attachments import Attachments
from dspscope.viewer.widgets.decoded_tree import DecodedTree

TABS = ("decoded", "xml", "headers", "attachments", "findings", "diff")


class Detail(Vertical):
    """Decoded, XML, Headers, Attachments, Findings, Diff."""

    #: For the screens that hold a Detail (the keys work from the list too).
    TAB_BINDINGS = [
        Binding("left_square_bracket", "detail_tab(-1)", "Previous detail tab", show=False),
        Binding("right_square_bracket", "detail_tab(1)", "Next detail tab", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flow: http.HTTPFlow | None = None
        self.row: Row | None = None
        self._stale: set[str] = set(TABS)

    def compose(self) -> ComposeResult:
        with TabbedContent(id="detail-tabs"):
            with TabPane("Decoded", id="decoded"):
                yield DecodedTree(id="decoded-tree")
            for tab, title in (("xml", "XML"), ("headers", "Headers")):
                with TabPane(title, id=tab), ScrollableContainer():
                    yield Static(id=f"{tab}-view")
            with TabPane("Attachments", id="attachments"):
                yield Attachments(id="attachments-view")
            for tab, title in (("findings", "Findings"), ("diff", "Diff")):
                with TabPane(title, id=tab), ScrollableContainer():
                    yield Static(id=f"{tab}-view")

    @property
    def active(self) -> str:
        return self.query_one(TabbedContent).active

    def show(self, row: Row | None, flow: http.HTTPFlow | None) -> None:
        """Show ``row`` (drawn now for the open tab, later for the others)."""
        if row is self.row and flow is self.flow:
            return
        self.row, self.flow = row, flow
        self._stale = set(TABS)
        self._draw(self.active)

    def redraw(self) -> None:
        self._stale = set(TABS)
        self._draw(self.active)

    def focus_content(self) -> None:
        """Focus what the open tab shows (tree, attachments, scrolled text)."""
        pane = self.query_one(f"TabPane#{self.active or 'decoded'}")
        target = next((w for w in pane.query("*") if w.focusable), None)
        (target or self.query_one("#detail-tabs")).focus()

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        at = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(at + step) % len(TABS)]

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane is not None and event.pane.id:
            self._draw(event.pane.id)

    def _draw(self, tab: str) -> None:
        if tab not in self._stale or not self.is_mounted:
            return
        self._stale.discard(tab)
        row, flow = self.row, self.flow
        if tab == "decoded":
            tree = self.query_one(DecodedTree)
            tree.show(row.record if row is not None else {})
            return
        if tab == "attachments":
            items = list(detail_text.attachments_of(flow, row.record)) if flow and row else []
            self.query_one(Attachments).show(flow, items)
            return
        self.query_one(f"#{tab}-view", Static).update(self._renderable(tab, row, flow))

    def _renderable(self, tab: str, row: Row | None, flow: http.HTTPFlow | None) -> RenderableType:
        if row is None or flow is None:
            return Text("Select an exchange.", style="dim")
        dark = self.app.current_theme.dark
        if tab == "xml":
            return detail_text.xml_view(flow, dark=dark)
        if tab == "headers":
            return detail_text.headers_view(flow)
        if tab == "findings":
            return detail_text.findings_view(row.record)
        meta = flow.metadata.get("dspscope")
        original = meta.get("original") if isinstance(meta, dict) else None
        return detail_text.diff_view(flow, original, dark=dark)
