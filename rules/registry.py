"""Actions as a registry: each kind of action is one ``ActionType`` (its
YAML key, how to read it, what it does), registered once.  The parser reads
an ``action:`` mapping through the registry, ``Actions`` holds the values
by name, and what a firing does is a ``Plan`` that the actions' ``apply``
fill in, purely; the rules addon carries out any Plan without knowing the
actions by name.  So one module adds one action: it registers its
``ActionType`` (the built-in ones are in builtin_actions.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dspscope.wsdsp.messages import Message

from .answers import Answer

#: An edit of the envelope (its lxml root, parsed once for all edits; the
#: original XML; the MessageID to duplicate): the number of changes made in
#: place, or the final bytes (then no later edit runs).
EnvelopeEdit = Callable[[Any, bytes, "str | None"], "int | bytes"]


@dataclass(slots=True)
class Plan:
    """What the proxy does to one message for one rule that fired."""

    #: seconds to hold the message first
    hold: float | None = None
    #: the answer given instead of the peer's (a request's server, a response)
    answer: Answer | None = None
    #: edits of the XML envelope (of the answer if there is one, else of the message)
    edits: list[EnvelopeEdit] = field(default_factory=list)
    #: "drop" (answer an event 202, never forward it), or a connection end:
    #: "reset", "close", "hang"
    end: str | None = None
    #: ("truncate", bytes) or ("throttle", bytes per second) of the response sent
    shape: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What an action's ``apply`` may need of the message and the firing."""

    request: Message | None = None
    delay: float | None = None
    duplicate_id: str | None = None


def _never(_value: Any) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class ActionType:
    """One kind of action."""

    name: str
    #: (the rule file reader, the YAML node) -> the action's value; errors
    #: through the reader (``reader.fail(node, text)``), as every key's are
    parse: Callable[[Any, Any], Any]
    #: fill in the Plan for this value
    apply: Callable[[Any, Plan, Context], None]
    #: a few words for lists and records ("fault InvalidArgs")
    describe: Callable[[Any], str]
    #: the proxy answers in the peer's place, so later rules are not checked
    answers: Callable[[Any], bool] = _never
    #: nothing goes on to the peer at all
    ends: Callable[[Any], bool] = _never
    #: the action edits the envelope
    edits: bool = False
    #: the value a rule without this key has
    default: Any = None


REGISTRY: dict[str, ActionType] = {}


def register(kind: ActionType) -> ActionType:
    """Add an action kind; they apply (and are named) in registration order."""
    if kind.name in REGISTRY:
        raise ValueError(f"action {kind.name!r} is registered already")
    REGISTRY[kind.name] = kind
    return kind


def plan_of(actions: Any, context: Context | None = None) -> Plan:
    """The Plan of a rule's ``Actions`` (``spec.Actions``) for one message."""
    plan = Plan()
    for name, value in actions.values:
        REGISTRY[name].apply(value, plan, context or Context())
    return plan
