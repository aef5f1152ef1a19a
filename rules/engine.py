"""The decisions: which rules fire for a message, in file order.

The proxy describes each message as a Subject (side, operation, device,
job token, body) and asks ``Engine.decide``; the engine answers with the
Firings to apply, already resolved (delays drawn, the MessageID to
duplicate chosen) and keeps each rule's counters, hit count and random
generator.  Every message on every side should be shown to ``decide``:
``message_id: duplicate`` remembers the last MessageID seen per side.

Order of checks for one rule: direction, operation, client, xpath,
request_xpath (the rule's *match*), then the counters (nth/every per rule, nth_in_job per job
and operation), then ``times``, then ``probability`` -- so the random
sequence depends only on the messages that got that far, and a seed
replays a session.  Once a rule that answers or ends the exchange (fault,
status, drop, reset, close, hang) fires, later rules are not checked.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from dspscope.wsdsp.codec import parse_envelope
from dspscope.wsdsp.values import normalize_guid

from .spec import Network, Rule, RuleSet, Side

MAX_JOBS_PER_RULE = 10_000
_UNPARSED: Any = object()


@dataclass(slots=True)
class Subject:
    """One message, as the rules see it.  ``device`` is the device's IP
    address (the client of an exchange, the receiver of an event)."""

    side: Side
    operation: str | None = None
    device: str | None = None
    job_token: str | None = None
    message_id: str | None = None
    request_message_id: str | None = None  # for a response: what it answers
    content: bytes = b""
    content_type: str | None = None
    #: for a response: the request it answers (``request_xpath``)
    request_content: bytes = b""
    request_content_type: str | None = None
    _tree: Any = field(default=_UNPARSED, repr=False)
    _request_tree: Any = field(default=_UNPARSED, repr=False)

    def tree(self) -> Any:
        """The envelope's lxml root (parsed once, hardened), or None."""
        if self._tree is _UNPARSED:
            self._tree = parse_envelope(self.content, self.content_type) if self.content else None
        return self._tree

    def request_tree(self) -> Any:
        """The request's envelope root, for a response (parsed once), or None."""
        if self._request_tree is _UNPARSED:
            self._request_tree = (parse_envelope(self.request_content, self.request_content_type)
                                  if self.request_content else None)
        return self._request_tree


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fired for a message, with its random choices made."""

    rule: Rule
    delay: float | None = None
    duplicate_id: str | None = None

    def record(self, error: str | None = None) -> dict[str, Any]:
        """The entry for flow.metadata["dspscope"]["rules"]."""
        out: dict[str, Any] = {
            "name": self.rule.name,
            "action": "+".join(self.rule.action.names),
            "side": self.rule.side,
            "detail": self.describe(),
        }
        if error:
            out["error"] = error
        return out

    def describe(self) -> str:
        text = self.rule.action.describe()
        if self.delay is not None and self.rule.action.delay is not None:
            text = text.replace(f"delay {self.rule.action.delay.describe()}", f"delay {self.delay:.3g}s", 1)
        return text


@dataclass(frozen=True, slots=True)
class Decision:
    firings: tuple[Firing, ...] = ()
    #: Rules that could not be evaluated for this message (they did not fire).
    errors: tuple[tuple[Rule, str], ...] = ()


class RuleStatus(NamedTuple):
    """What a rules panel lists."""

    name: str
    enabled: bool
    hits: int
    description: str


@dataclass(slots=True)
class _State:
    rule: Rule
    seed: int
    enabled: bool
    hits: int = 0
    matches: int = 0
    jobs: OrderedDict[tuple[str, str], int] = field(default_factory=OrderedDict)
    rng: random.Random = field(init=False)
    delay_rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        # str seeds hash with SHA-512: the same in every process and version.
        self.rng = random.Random(f"{self.seed}:{self.rule.name}")
        self.delay_rng = random.Random(f"{self.seed}:{self.rule.name}:delay")


class Engine:
    """Rules from one or more files, in order, with their run-time state."""

    def __init__(self, sets: Iterable[RuleSet] = ()) -> None:
        self._rules: tuple[Rule, ...] = ()
        self._state: dict[str, _State] = {}
        self._last_id: dict[Side, str] = {}
        self.replace(sets)

    def replace(self, sets: Iterable[RuleSet]) -> None:
        """Use these rules from now on.  A rule that is unchanged (same
        definition, same seed) keeps its counters, random sequence and
        enabled switch; every rule keeps its hit count by name."""
        rules: list[Rule] = []
        state: dict[str, _State] = {}
        for rule_set in sets:
            for rule in rule_set.rules:
                if rule.name in state:
                    raise ValueError(f"rule name {rule.name!r} is used in {state[rule.name].rule.file} "
                                     f"and {rule.file}; names must be unique")
                old = self._state.get(rule.name)
                if old is not None and old.rule == rule and old.seed == rule_set.seed:
                    state[rule.name] = old
                else:
                    state[rule.name] = _State(rule, rule_set.seed, rule.enabled, hits=old.hits if old else 0)
                rules.append(rule)
        self._rules = tuple(rules)
        self._state = state

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def status(self) -> list[RuleStatus]:
        return [
            RuleStatus(r.name, self._state[r.name].enabled, self._state[r.name].hits, r.summary())
            for r in self._rules
        ]

    def hits(self, name: str) -> int:
        return self._state[name].hits

    def set_enabled(self, name: str, enabled: bool) -> bool:
        """Switch a rule on or off; False if there is no rule of that name."""
        state = self._state.get(name)
        if state is None:
            return False
        state.enabled = enabled
        return True

    def decide(self, subject: Subject) -> Decision:
        firings: list[Firing] = []
        errors: list[tuple[Rule, str]] = []
        for rule in self._rules:
            state = self._state[rule.name]
            if not state.enabled or rule.side != subject.side:
                continue
            try:
                firing = self._check(state, subject)
            except Exception as exc:  # noqa: BLE001 - a broken rule must not break traffic
                errors.append((rule, f"{type(exc).__name__}: {exc}"))
                continue
            if firing is None:
                continue
            state.hits += 1
            firings.append(firing)
            if rule.action.answers or rule.action.ends:
                break
        if subject.message_id:
            self._last_id[subject.side] = subject.message_id
        return Decision(tuple(firings), tuple(errors))

    def _check(self, state: _State, s: Subject) -> Firing | None:
        rule = state.rule
        m = rule.match
        if m.operations and s.operation not in m.operations:
            return None
        if m.clients and not _within(s.device, m.clients):
            return None
        if m.xpath is not None:
            tree = s.tree()
            if tree is None or not _truthy(m.xpath.compiled(tree)):
                return None
        if m.request_xpath is not None:
            tree = s.request_tree()
            if tree is None or not _truthy(m.request_xpath.compiled(tree)):
                return None
        duplicate = None
        addressing = rule.action.addressing
        if addressing is not None and addressing.message_id == "duplicate":
            duplicate = self._last_id.get(s.side)
            if duplicate is None and s.side == "response":
                duplicate = s.request_message_id
            if duplicate is None:
                return None  # nothing earlier to duplicate yet
        state.matches += 1
        if m.nth is not None or m.every is not None:
            start = m.nth if m.nth is not None else m.every
            assert start is not None
            if state.matches < start:
                return None
            if m.every is None and state.matches != start:
                return None
            if m.every is not None and (state.matches - start) % m.every:
                return None
        if m.nth_in_job is not None:
            if not s.job_token:
                return None
            key = (normalize_guid(s.job_token), s.operation or "")
            count = state.jobs.pop(key, 0) + 1
            state.jobs[key] = count
            while len(state.jobs) > MAX_JOBS_PER_RULE:
                state.jobs.popitem(last=False)
            if count != m.nth_in_job:
                return None
        if m.times is not None and state.hits >= m.times:
            return None
        if m.probability is not None and state.rng.random() >= m.probability:
            return None
        delay = rule.action.delay.draw(state.delay_rng) if rule.action.delay is not None else None
        return Firing(rule, delay, duplicate)


def _within(device: str | None, networks: tuple[Network, ...]) -> bool:
    if not device:
        return False
    try:
        address = ipaddress.ip_address(device.strip("[]").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in networks)


def _truthy(result: Any) -> bool:
    if isinstance(result, bool):
        return result
    if isinstance(result, float):
        return result != 0 and not math.isnan(result)
    if isinstance(result, str | list):
        return len(result) > 0
    return bool(result)
