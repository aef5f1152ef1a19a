"""What the viewer can ask of a live proxy, as protocols: the screens depend
on these, ``viewer.live`` implements them over the proxy's thread, tests
can fake them.  No Textual, no mitmproxy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RuleInfo:
    name: str
    enabled: bool
    hits: int
    description: str


class RulesControl(Protocol):
    """The rules addon, from the UI's side.  Calls block until the proxy's
    thread answered: call them from worker threads."""

    def status(self) -> list[RuleInfo]: ...

    def set_enabled(self, name: str, enabled: bool) -> str | None: ...

    def reload(self) -> str | None: ...

    def presets(self) -> list[tuple[str, str]]: ...

    def load_preset(self, name: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """A response given instead of the server's (intercept's "answer with a fault")."""

    status: int
    content: bytes
    content_type: str


class InterceptControl(Protocol):
    """Pausing requests in the proxy and letting them go."""

    def set_filter(self, text: str | None) -> None:
        """Pause requests matching ``text`` (filter language); None: stop pausing."""

    def forward(self, exchange_id: str, content: bytes | None = None) -> None:
        """Let a paused request go on, with ``content`` as its new body if given."""

    def answer(self, exchange_id: str, answer: Answer) -> None:
        """Answer a paused request without asking the server."""

    def forward_all(self) -> int:
        """Let every paused request go on unchanged; how many there were."""
