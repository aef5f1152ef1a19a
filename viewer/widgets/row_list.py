"""A virtualized list of rows with a sticky header, on Textual's line API.

Only the lines on screen are rendered (``render_line``), and each rendered
row is cached, so a list of 100,000 rows costs what a list of 40 does.  A
subclass says how many rows there are (``count``) and how to draw one
(``render_row``), from cells made of captured text through ``viewer.safe``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dspscope.viewer.safe import printable


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: int  # 0: takes the width that is left
    right: bool = False


Cell = tuple[str, Style | None]


class RowList(ScrollView, can_focus=True):
    """Rows 0..count-1 below a one-line header; a cursor picks one."""

    COMPONENT_CLASSES = {
        "row-list--header",
        "row-list--cursor",
        "row-list--fault",
        "row-list--error",
        "row-list--warning",
        "row-list--rule",
        "row-list--dim",
        "row-list--paused",
        "row-list--accent",
    }
    HELP_TITLE = "lists (exchanges, jobs, timeline)"  # its group in the help screen
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("enter", "open", "Open", show=False),
    ]
    COLUMNS: Sequence[Column] = ()

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Highlighted(Message):
        """The cursor moved to ``position`` (posted at most once per refresh)."""

        def __init__(self, rows: RowList, position: int) -> None:
            super().__init__()
            self.rows = rows
            self.position = position

        @property
        def control(self) -> RowList:
            return self.rows

    class Opened(Highlighted):
        """Enter (or a double click) on the row at ``position``."""

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._count = 0
        self._cache: LRUCache[tuple[int, int, bool, int], Strip] = LRUCache(2048)
        self._generation = 0
        self._base: Style | None = None
        self.follow = True

    # ----------------------------------------------------------- subclass API

    def render_row(self, position: int) -> Sequence[Cell]:
        """The cells of row ``position`` (one per column, already made safe)."""
        raise NotImplementedError

    def row_style(self, position: int) -> Style | None:
        """A style for the whole row (faults, errors, paused)."""
        return None

    def has_row(self, position: int) -> bool:
        """Whether row ``position`` can be drawn now (the data may have
        shrunk since the count was last set; the next sync redraws)."""
        return True

    # ------------------------------------------------------------------ data

    @property
    def count(self) -> int:
        return self._count

    def set_count(self, count: int, *, changed: bool = False) -> None:
        """There are now ``count`` rows; ``changed`` when existing rows changed."""
        at_end = self.follow and (self._count == 0 or self.cursor >= self._count - 1)
        grew = count != self._count
        self._count = count
        if changed:
            self.invalidate()
        self.virtual_size = Size(self.size.width, count + 1)
        if at_end and count:
            self.cursor = count - 1
        elif self.cursor >= count:
            self.cursor = max(0, count - 1)
        if grew or changed:
            self.refresh()

    def invalidate(self) -> None:
        self._generation += 1
        self._cache.clear()
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._base = None

    @property
    def base_style(self) -> Style:
        """The widget's own style, computed once per style change (it walks
        the ancestors, and every line wants it)."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    # --------------------------------------------------------------- cursor

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self._count - 1)) if self._count else 0

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        # Again once laid out: a list that just grew may not know its height yet.
        self.call_after_refresh(self._scroll_to_cursor)
        self.refresh()
        if self._count:
            self.post_message(self.Highlighted(self, new))

    def _scroll_to_cursor(self) -> None:
        rows_on_screen = max(1, self.size.height - 1)
        top = round(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows_on_screen:
            self.scroll_to(y=self.cursor - rows_on_screen + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.follow = self.cursor + delta >= self._count - 1
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        self.follow = where < 0
        self.cursor = self._count - 1 if where < 0 else where

    def action_open(self) -> None:
        if self._count:
            self.post_message(self.Opened(self, self.cursor))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        position = round(self.scroll_offset.y) + offset.y - 1
        if 0 <= position < self._count:
            self.follow = position == self._count - 1
            self.cursor = position
            if event.chain >= 2:
                self.action_open()

    def _on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        self.virtual_size = Size(event.size.width, self._count + 1)
        self.call_after_refresh(self._scroll_to_cursor)

    # --------------------------------------------------------------- render

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.base_style
        if y == 0:
            header = self.get_component_rich_style("row-list--header")
            cells = [(column.title, None) for column in self.COLUMNS]
            return self._strip(cells, width, base + header)
        position = round(self.scroll_offset.y) + y - 1
        if position >= self._count or not self.has_row(position):
            return Strip.blank(width, base)
        selected = position == self.cursor
        key = (position, width, selected, self._generation)
        strip = self._cache.get(key)
        if strip is None:
            style = base
            extra = self.row_style(position)
            if extra is not None:
                style = style + extra
            if selected:
                style = style + self.get_component_rich_style("row-list--cursor")
            strip = self._strip(self.render_row(position), width, style, plain=selected)
            self._cache[key] = strip
        return strip

    def _strip(self, cells: Sequence[Cell], width: int, style: Style,
               *, plain: bool = False) -> Strip:
        widths = self._widths(width)
        segments = []
        used = 0
        for (text, cell_style), column, size in zip(cells, self.COLUMNS, widths, strict=False):
            if size <= 0:
                continue
            text = text if cell_len(text) <= size else set_cell_size(text, size - 1) + "…"
            text = text.rjust(size) if column.right else text
            text = set_cell_size(text, size)
            applied = style if cell_style is None or plain else style + cell_style
            segments.append(Segment(text, applied))
            segments.append(Segment(" ", style))
            used += size + 1
        if used < width:
            segments.append(Segment(" " * (width - used), style))
        return Strip(segments, max(width, used)).crop(0, width)

    def _widths(self, width: int) -> list[int]:
        fixed = sum(c.width + 1 for c in self.COLUMNS if c.width)
        flexible = [c for c in self.COLUMNS if not c.width]
        rest = max(0, width - fixed - len(flexible))
        share = rest // len(flexible) if flexible else 0
        return [c.width if c.width else share for c in self.COLUMNS]


def cell(text: str | None, style: Style | None = None, limit: int = 200) -> Cell:
    """A cell of captured text: escaped and cut short for a one-line row."""
    return (printable(text or "", limit=limit), style)
