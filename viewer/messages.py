"""Every Textual message the viewer posts, as small dataclasses."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class FilterSubmitted(Message):
    """The filter bar's text changed (debounced) or was submitted."""

    text: str


@dataclass
class FilterApplied(Message):
    """A filter finished: ``shown`` rows match; ``error`` when it did not parse."""

    text: str
    shown: int
    error: str | None = None


@dataclass
class RowsChanged(Message):
    """New or changed rows reached the store (posted once per flush)."""

    total: int
    shown: int
    changed: bool = False

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RowsChanged)


@dataclass
class ProxyState(Message):
    """The live proxy's state: ``level`` is "ok", "warning" or "error"."""

    text: str
    level: str = "ok"


@dataclass
class LogLines(Message):
    """Lines for the Log view: (level, text, time stamp) each."""

    lines: list[tuple[str, str, float | None]]


@dataclass
class Progress(Message):
    """Loading or filtering progress to show ("" when idle)."""

    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Progress)


@dataclass
class InterceptChanged(Message):
    """Intercept now pauses requests matching ``filter`` ("" all; None: off)."""

    filter: str | None


@dataclass
class ShowExchange(Message):
    """Select this exchange in the main screen's list (clearing the filter if it hides it)."""

    exchange_id: str
