"""The Log view: the proxy's and the simulators' log lines, kept in the UI
(nothing is written to the terminal behind Textual's back)."""

from __future__ import annotations

import time

from textual.widgets import Log

from dspscope.viewer.safe import printable

MAX_LINES = 5000


class LogPanel(Log):
    """Lines with a time stamp and level; captured text made printable."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=MAX_LINES, auto_scroll=True, **kwargs)  # type: ignore[arg-type]

    def add(self, level: str, text: str, stamp: float | None = None) -> None:
        clock = time.strftime("%H:%M:%S", time.localtime(stamp or time.time()))
        for line in (text.splitlines() or [""]):
            self.write_line(f"{clock} {level:<7} {printable(line, limit=2000)}")
