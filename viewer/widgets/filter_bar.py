"""The filter bar: a query in the filter language, applied as you type."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Input, Static

from dspscope.viewer.messages import FilterApplied, FilterSubmitted
from dspscope.viewer.safe import literal

DEBOUNCE = 0.25
PLACEHOLDER = "filter: op:SendImage job:264a status:>=400 fault device:10.0.0.5 has:findings rule:busy text   (? for help)"


class FilterBar(Horizontal):
    """Posts FilterSubmitted; shows how many rows matched or why the query is wrong."""

    HELP_TITLE = "filter bar"  # its group in the help screen
    BINDINGS = [Binding("escape", "leave", "Back to the list", show=False)]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder=PLACEHOLDER, id="filter-input", select_on_focus=False)
        yield Static(id="filter-result")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    @property
    def value(self) -> str:
        return self.input.value

    def set_value(self, text: str) -> None:
        self.input.value = text
        self._submit()

    @on(Input.Changed, "#filter-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self._submit)

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()
        self.action_leave()

    def _submit(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.post_message(FilterSubmitted(self.input.value))

    def show_result(self, result: FilterApplied) -> None:
        label = self.query_one("#filter-result", Static)
        label.set_class(result.error is not None, "-error")
        if result.error is not None:
            label.update(literal(result.error, limit=200))
        elif result.text.strip():
            label.update(Text(f"{result.shown:,} match"))
        else:
            label.update("")

    def action_leave(self) -> None:
        self.screen.focus_next_list()  # type: ignore[attr-defined]
