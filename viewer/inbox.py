"""Where background threads leave what the UI should show.

The proxy's thread, a capture loader or the simulators put flow batches,
log lines and state changes here; the app takes everything every 100 ms and
applies it in one go, so a burst of a thousand exchanges costs one redraw.
Thread-safe; no Textual.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from dspscope.viewer.session import Batch


@dataclass(frozen=True, slots=True)
class LogLine:
    level: str
    text: str
    stamp: float = field(default_factory=time.time)


@dataclass(slots=True)
class Delivery:
    """What one ``take`` returns."""

    batches: list[Batch] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    state: tuple[str, str] | None = None
    progress: str | None = None
    notices: list[tuple[str, str]] = field(default_factory=list)


class Inbox:
    MAX_LOGS = 5000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches: deque[Batch] = deque()
        self._logs: deque[LogLine] = deque(maxlen=self.MAX_LOGS)
        self._notices: deque[tuple[str, str]] = deque(maxlen=100)
        self._state: tuple[str, str] | None = None
        self._progress: str | None = None

    def put_batch(self, batch: Batch) -> None:
        if batch.items:
            with self._lock:
                self._batches.append(batch)

    def log(self, level: str, text: str) -> None:
        with self._lock:
            self._logs.append(LogLine(level, text))

    def state(self, text: str, level: str = "ok") -> None:
        """The proxy's state line ("listening on ...", "port in use")."""
        with self._lock:
            self._state = (text, level)

    def progress(self, text: str) -> None:
        """Loading progress ("" when done)."""
        with self._lock:
            self._progress = text

    def notice(self, text: str, severity: str = "information") -> None:
        """A toast for the user (and a log line)."""
        with self._lock:
            self._notices.append((text, severity))
            self._logs.append(LogLine(severity, text))

    def take(self, max_items: int = 20_000) -> Delivery:
        out = Delivery()
        with self._lock:
            taken = 0
            while self._batches and taken < max_items:
                batch = self._batches.popleft()
                out.batches.append(batch)
                taken += len(batch.items)
            out.logs = list(self._logs)
            self._logs.clear()
            out.notices = list(self._notices)
            self._notices.clear()
            out.state, self._state = self._state, None
            out.progress, self._progress = self._progress, None
        return out
