"""A modal one-line question: a file name to save to, a filter to intercept."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class Prompt(ModalScreen[str | None]):
    HELP_TITLE = "prompts"  # its group in the help screen
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    CSS_PATH = "prompt.tcss"

    def __init__(self, question: str, value: str = "", hint: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.question, style="bold"))
            yield Input(value=self.value, id="prompt-input")
            yield Label(Text(self.hint or "enter: OK   escape: cancel"), id="prompt-hint")

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)
