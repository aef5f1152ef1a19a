"""A job's timeline: its exchanges and events in order, with the time since
the job was created, latencies and faults."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style

from dspscope.viewer import format as fmt
from dspscope.viewer.store import Row
from dspscope.viewer.widgets.exchange_list import notes_of
from dspscope.viewer.widgets.row_list import Cell, Column, RowList, cell


class Timeline(RowList):
    COLUMNS = (
        Column("at", 8, right=True),
        Column("", 2),
        Column("step", 26),
        Column("st", 3, right=True),
        Column("latency", 7, right=True),
        Column("findings", 8),
        Column("notes", 0),
    )

    def __init__(self, rows: list[Row], start: float, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rows = rows
        self.start = start
        self.follow = False

    def on_mount(self) -> None:
        self.set_count(len(self.rows))

    def update_rows(self, rows: list[Row]) -> None:
        self.rows = rows
        self.set_count(len(rows), changed=True)

    def current(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def row_style(self, position: int) -> Style | None:
        row = self.rows[position]
        if row.error:
            return self.get_component_rich_style("row-list--error", partial=True)
        if row.fault or (row.status or 0) >= 400:
            return self.get_component_rich_style("row-list--fault", partial=True)
        if row.kind == "event":
            return self.get_component_rich_style("row-list--accent", partial=True)
        return None

    def render_row(self, position: int) -> Sequence[Cell]:
        row = self.rows[position]
        arrow = "←" if row.kind == "event" else "→"
        step = row.operation or row.protocol
        return (
            ("+" + fmt.seconds(max(0.0, row.time - self.start)), None),
            (arrow, None),
            cell(step),
            (fmt.status(row.status, pending=row.pending), None),
            (fmt.millis(row.latency), None),
            (fmt.findings(row.findings, row.severity), None),
            cell(notes_of(row), limit=400),
        )
