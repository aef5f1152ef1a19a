"""The line above the footer: where the data comes from and what is going on."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from dspscope.viewer.safe import literal


class StatusBar(Static):
    """Source, counts, intercept state and the proxy's health, in one line."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.source = ""
        self.proxy = ""
        self.level = "ok"
        self.total = 0
        self.shown = 0
        self.jobs = 0
        self.intercept: str | None = None
        self.paused = 0
        #: Loading or filtering progress ("" when idle).  (Not ``loading``:
        #: that is Textual's own switch for a loading indicator.)
        self.progress = ""

    def refresh_text(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append_text(literal(self.source, limit=60))
        if self.proxy:
            text.append("  ·  ")
            text.append_text(literal(self.proxy, style="bold" if self.level != "ok" else "",
                                     limit=120))
        text.append(f"  ·  {self.total:,} exchanges")
        if self.shown != self.total:
            text.append(f", {self.shown:,} shown")
        text.append(f"  ·  {self.jobs:,} jobs")
        if self.progress:
            text.append(f"  ·  {self.progress}")
        if self.intercept is not None:
            text.append("  ·  intercept: ", style="bold")
            text.append_text(literal(self.intercept or "everything", limit=40))
        if self.paused:
            text.append(f"  ·  ⏸ {self.paused} paused", style="bold")
        self.set_class(self.level == "error", "-error")
        self.set_class(self.level == "warning", "-warning")
        self.update(text)
