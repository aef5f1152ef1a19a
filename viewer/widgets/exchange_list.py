"""The exchanges list: one line per exchange or relayed event, the store's
current view of them, drawn only where it is on screen."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from rich.style import Style

from dspscope.viewer import format as fmt
from dspscope.viewer.store import Row, Store
from dspscope.viewer.widgets.row_list import Cell, Column, RowList, cell


def notes_of(row: Row) -> str:
    """The last column: what is special about this exchange."""
    parts = []
    if row.paused:
        parts.append("⏸ paused")
    if row.fault:
        parts.append(f"fault {row.fault}")
    if row.rules:
        held = f" held {fmt.millis(row.rule_delay)}" if row.rule_delay else ""
        parts.append("⚑ " + ",".join(row.rules) + held)
    if row.rewritten:
        parts.append("✎ rewritten")
    if row.error:
        parts.append(f"error: {row.error}")
    if not parts:
        parts.append(row.url)
    return "  ".join(parts)


class ExchangeList(RowList):
    """Exchanges as the filter shows them; the cursor is a position in the view."""

    COLUMNS = (
        Column("time", 12),
        Column("device", 15),
        Column("operation", 24),
        Column("kind", 5),
        Column("st", 3, right=True),
        Column("latency", 7, right=True),
        Column("job", 8),
        Column("findings", 8),
        Column("notes", 0),
    )

    def __init__(self, store: Store, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.store = store

    def sync(self, *, changed: bool = False) -> None:
        """The store's view grew or changed: redraw what is needed."""
        self.set_count(len(self.store.view), changed=changed)

    def has_row(self, position: int) -> bool:
        return position < len(self.store.view)

    def current(self) -> Row | None:
        view = self.store.view
        return self.store.rows[view[self.cursor]] if 0 <= self.cursor < len(view) else None

    def select_row(self, row: Row) -> bool:
        """Move the cursor to ``row`` if the filter shows it."""
        view = self.store.view
        at = bisect.bisect_left(view, row.index)
        if at < len(view) and view[at] == row.index:
            self.follow = self.follow and at == len(view) - 1
            self.cursor = at
            return True
        return False

    def row_style(self, position: int) -> Style | None:
        row = self.store.visible(position)
        if row.paused:
            return self.get_component_rich_style("row-list--paused", partial=True)
        if row.error:
            return self.get_component_rich_style("row-list--error", partial=True)
        if row.fault or (row.status or 0) >= 400:
            return self.get_component_rich_style("row-list--fault", partial=True)
        if row.pending:
            return self.get_component_rich_style("row-list--dim", partial=True)
        return None

    def render_row(self, position: int) -> Sequence[Cell]:
        row = self.store.visible(position)
        severity_style = None
        if row.severity == "error":
            severity_style = self.get_component_rich_style("row-list--error", partial=True)
        elif row.severity == "warning":
            severity_style = self.get_component_rich_style("row-list--warning", partial=True)
        notes_style = None
        if row.rules or row.rewritten:
            notes_style = self.get_component_rich_style("row-list--rule", partial=True)
        operation = row.operation or (f"{row.method} (not SOAP)" if row.protocol == "not-soap"
                                      else row.protocol)
        return (
            (fmt.clock(row.time), None),
            cell(row.device),
            cell(operation),
            ("event" if row.kind == "event" else "exch", None),
            (fmt.status(row.status, pending=row.pending), None),
            (fmt.millis(row.latency), None),
            cell(row.short_job),
            (fmt.findings(row.findings, row.severity), severity_style),
            cell(notes_of(row), notes_style, limit=400),
        )
