"""What a rule file says, as frozen values: a RuleSet of Rules, each a Match
(which messages) and Actions (what to do to them).

These are built only by ``rules.parse`` (which validates everything), so the
engine and the proxy addon never meet a half-valid rule.  Compiled XPath
expressions are kept beside their source text and left out of equality, so
two loads of the same file compare equal.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

Side = Literal["request", "response", "event"]
TransportKind = Literal["reset", "close", "hang", "truncate", "throttle"]
EditKind = Literal["text", "set_attribute", "remove_attribute", "remove", "insert"]
Position = Literal["append", "prepend", "before", "after"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SIDES: tuple[Side, ...] = ("request", "response", "event")


@dataclass(frozen=True, slots=True)
class XPathExpr:
    """An XPath expression, compiled once at load with the usual prefixes."""

    text: str
    compiled: Any = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Match:
    operations: tuple[str, ...] = ()
    direction: Side = "response"
    clients: tuple[Network, ...] = ()
    xpath: XPathExpr | None = None
    #: a response rule's test of the request it answers (mitmproxy's ~bq)
    request_xpath: XPathExpr | None = None
    nth: int | None = None
    every: int | None = None
    nth_in_job: int | None = None
    probability: float | None = None
    times: int | None = None


@dataclass(frozen=True, slots=True)
class FaultAction:
    """A SOAP 1.2 fault; None fields take the spec's values for the subcode."""

    subcode: str
    code: str | None = None
    reason: str | None = None
    detail: str | None = None
    status: int | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class StatusAction:
    code: int
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DelayAction:
    """Fixed seconds, a uniform range, or mean +- jitter (never below 0)."""

    low: float
    high: float

    def draw(self, rng: random.Random) -> float:
        if self.low == self.high:
            return self.low
        return max(0.0, rng.uniform(self.low, self.high))

    def describe(self) -> str:
        if self.low == self.high:
            return f"{self.low:g}s"
        return f"{self.low:g}-{self.high:g}s"


@dataclass(frozen=True, slots=True)
class TransportAction:
    kind: TransportKind
    amount: int | None = None  # truncate: bytes of body sent; throttle: bytes per second


@dataclass(frozen=True, slots=True)
class Edit:
    """One XPath edit of a rewrite."""

    xpath: XPathExpr
    kind: EditKind
    text: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()  # (Clark name, value); value unused for removal
    fragment: str | None = None  # insert: the XML text, validated at load
    position: Position = "append"


@dataclass(frozen=True, slots=True)
class AddressingAction:
    relates_to: Literal["wrong", "missing"] | None = None
    message_id: Literal["duplicate"] | None = None


MalformedKind = Literal["unclosed", "wrong-namespace", "invalid-utf8"]


@dataclass(frozen=True, slots=True)
class Actions:
    """What a rule does: each action's value by its name, in the order the
    registry (registry.py) applies them.  Parsing guarantees the combination
    makes sense.  The built-in actions can be read by name (``fault``, ...)."""

    values: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> Actions:
        from .registry import REGISTRY

        unknown = [name for name in given if name not in REGISTRY]
        if unknown:
            raise ValueError(f"no action named {', '.join(unknown)}")
        return cls(tuple((name, given[name]) for name in REGISTRY
                         if name in given and given[name] not in (None, False, ())))

    def get(self, name: str, default: Any = None) -> Any:
        return next((value for key, value in self.values if key == name), default)

    @property
    def fault(self) -> FaultAction | None:
        return cast("FaultAction | None", self.get("fault"))

    @property
    def status(self) -> StatusAction | None:
        return cast("StatusAction | None", self.get("status"))

    @property
    def delay(self) -> DelayAction | None:
        return cast("DelayAction | None", self.get("delay"))

    @property
    def transport(self) -> TransportAction | None:
        return cast("TransportAction | None", self.get("transport"))

    @property
    def rewrite(self) -> tuple[Edit, ...]:
        return cast("tuple[Edit, ...]", self.get("rewrite", ()))

    @property
    def addressing(self) -> AddressingAction | None:
        return cast("AddressingAction | None", self.get("addressing"))

    @property
    def malformed(self) -> MalformedKind | None:
        return cast("MalformedKind | None", self.get("malformed"))

    @property
    def drop(self) -> bool:
        return bool(self.get("drop", False))

    @property
    def names(self) -> tuple[str, ...]:
        """The action keys in the order the proxy applies them."""
        return tuple(name for name, _ in self.values)

    @property
    def answers(self) -> bool:
        """True when the proxy itself answers (fault, status, drop)."""
        from .registry import REGISTRY

        return any(REGISTRY[name].answers(value) for name, value in self.values)

    @property
    def ends(self) -> bool:
        """True when no message goes on to the peer at all."""
        from .registry import REGISTRY

        return any(REGISTRY[name].ends(value) for name, value in self.values)

    @property
    def edits(self) -> bool:
        from .registry import REGISTRY

        return any(REGISTRY[name].edits for name, _ in self.values)

    def describe(self) -> str:
        from .registry import REGISTRY

        return ", ".join(REGISTRY[name].describe(value) for name, value in self.values)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    match: Match
    action: Actions
    enabled: bool = True
    description: str = ""
    file: str = ""
    line: int = 0

    @property
    def side(self) -> Side:
        return self.match.direction

    def summary(self) -> str:
        """One line for lists: the description, or what the rule does when."""
        if self.description:
            return self.description
        ops = "/".join(self.match.operations) or "any message"
        return f"{self.action.describe()} on {ops} {self.side}"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of one file, in file order, with the seed of their randomness."""

    rules: tuple[Rule, ...]
    seed: int
    seed_given: bool = True
    file: str = ""
