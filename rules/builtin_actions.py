"""The built-in actions, registered in the order they apply: delay, drop,
fault, status, rewrite, addressing, malformed, transport.  Each reads its
YAML with the rule file reader (parse_actions.ActionReader, where their
checks live) and fills in the Plan; none of them is known by name to the
engine's caller, the rules addon."""

from __future__ import annotations

from typing import Any

from .answers import fault_answer, status_answer
from .edits import address, apply_edit, malform, serialize, wrong_namespace
from .registry import ActionType, Context, Plan, register
from .spec import AddressingAction, DelayAction, Edit, FaultAction, StatusAction, TransportAction

_ENDS = ("reset", "close", "hang")


def _hold(value: DelayAction, plan: Plan, context: Context) -> None:
    plan.hold = context.delay if context.delay is not None else value.low


def _drop(_value: bool, plan: Plan, _context: Context) -> None:
    plan.end = "drop"


def _fault(value: FaultAction, plan: Plan, context: Context) -> None:
    plan.answer = fault_answer(value, context.request)


def _status(value: StatusAction, plan: Plan, _context: Context) -> None:
    plan.answer = status_answer(value)


def _rewrite(value: tuple[Edit, ...], plan: Plan, _context: Context) -> None:
    plan.edits.append(lambda root, _xml, _dup: sum(apply_edit(root, edit) for edit in value))


def _addressing(value: AddressingAction, plan: Plan, _context: Context) -> None:
    def edit(root: Any, _xml: bytes, duplicate_id: str | None) -> int:
        address(root, value, duplicate_id)
        return 1

    plan.edits.append(edit)


def _malformed(value: Any, plan: Plan, _context: Context) -> None:
    def edit(root: Any, xml: bytes, _dup: str | None) -> bytes:
        if value == "wrong-namespace":
            return wrong_namespace(root, serialize(root, xml, "utf-8"))
        return malform(root, xml, value)

    plan.edits.append(edit)


def _transport(value: TransportAction, plan: Plan, _context: Context) -> None:
    if value.kind in _ENDS:
        plan.end = value.kind
    elif value.amount is not None:
        plan.shape = (value.kind, value.amount)


def _addressing_text(value: AddressingAction) -> str:
    what = [f"relates_to {value.relates_to}"] if value.relates_to else []
    what += [f"message_id {value.message_id}"] if value.message_id else []
    return "addressing " + ", ".join(what)


def _transport_text(value: TransportAction) -> str:
    return value.kind + (f" {value.amount}" if value.amount is not None else "")


register(ActionType("delay", lambda r, n: r.delay(n), _hold, lambda v: f"delay {v.describe()}"))
register(ActionType("drop", lambda r, n: r.drop(n), _drop, lambda v: "drop",
                    answers=lambda v: True, ends=lambda v: True, default=False))
register(ActionType("fault", lambda r, n: r.fault(n), _fault, lambda v: f"fault {v.subcode}",
                    answers=lambda v: True))
register(ActionType("status", lambda r, n: r.status(n), _status, lambda v: f"status {v.code}",
                    answers=lambda v: True))
register(ActionType("rewrite", lambda r, n: r.rewrite(n), _rewrite,
                    lambda v: f"rewrite ({len(v)} edit{'s' if len(v) > 1 else ''})", edits=True, default=()))
register(ActionType("addressing", lambda r, n: r.addressing(n), _addressing, _addressing_text, edits=True))
register(ActionType("malformed", lambda r, n: r.malformed(n), _malformed, lambda v: f"malformed {v}",
                    edits=True))
register(ActionType("transport", lambda r, n: r.transport(n), _transport, _transport_text,
                    ends=lambda v: v.kind in _ENDS))
