"""A small modal list: pick one of (value, description) choices."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from dspscope.viewer.safe import literal


class Choose(ModalScreen[str | None]):
    HELP_TITLE = "choices"  # its group in the help screen
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    CSS_PATH = "choose.tcss"

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text, style="bold"))
            options = []
            for value, description in self.choices:
                prompt = literal(value, style="bold", limit=60)
                if description:
                    prompt.append("  ")
                    prompt.append_text(literal(description, style="dim", limit=200))
                options.append(Option(prompt, id=value))
            yield OptionList(*options)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
