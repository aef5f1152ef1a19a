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
from dataclasses import dataclass, field
from typing import Any, Literal

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
    """What a rule does.  Parsing guarantees the combination makes sense."""

    fault: FaultAction | None = None
    status: StatusAction | None = None
    delay: DelayAction | None = None
    transport: TransportAction | None = None
    rewrite: tuple[Edit, ...] = ()
    addressing: AddressingAction | None = None
    malformed: MalformedKind | None = None
    drop: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The action keys in the order the proxy applies them."""
        out = []
        if self.delay is not None:
            out.append("delay")
        if self.drop:
            out.append("drop")
        if self.fault is not None:
            out.append("fault")
        if self.status is not None:
            out.append("status")
        if self.rewrite:
            out.append("rewrite")
        if self.addressing is not None:
            out.append("addressing")
        if self.malformed is not None:
            out.append("malformed")
        if self.transport is not None:
            out.append("transport")
        return tuple(out)

    @property
    def answers(self) -> bool:
        """True when the proxy itself answers (fault, status, drop)."""
        return self.fault is not None or self.status is not None or self.drop

    @property
    def ends(self) -> bool:
        """True when no message goes on to the peer at all."""
        return self.drop or (
            self.transport is not None and self.transport.kind in ("reset", "close", "hang")
        )

    @property
    def edits(self) -> bool:
        return bool(self.rewrite) or self.addressing is not None or self.malformed is not None

    def describe(self) -> str:
        parts = []
        if self.delay is not None:
            parts.append(f"delay {self.delay.describe()}")
        if self.drop:
            parts.append("drop")
        if self.fault is not None:
            parts.append(f"fault {self.fault.subcode}")
        if self.status is not None:
            parts.append(f"status {self.status.code}")
        if self.rewrite:
            parts.append(f"rewrite ({len(self.rewrite)} edit{'s' if len(self.rewrite) > 1 else ''})")
        if self.addressing is not None:
            what = [f"relates_to {self.addressing.relates_to}"] if self.addressing.relates_to else []
            what += [f"message_id {self.addressing.message_id}"] if self.addressing.message_id else []
            parts.append("addressing " + ", ".join(what))
        if self.malformed is not None:
            parts.append(f"malformed {self.malformed}")
        if self.transport is not None:
            amount = f" {self.transport.amount}" if self.transport.amount is not None else ""
            parts.append(f"{self.transport.kind}{amount}")
        return ", ".join(parts)


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
