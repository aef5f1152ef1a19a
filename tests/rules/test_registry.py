"""Actions are a registry: one module (here, this test) adds an action by
registering its name, how to read it and what it does, and the parser, the
engine, the records and the proxy's rules addon take it as they are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.test import taddons

from dspscope import rules
from dspscope.addons.applyrules import ApplyRules
from dspscope.rules import REGISTRY, ActionType, Answer, Context, Plan, register
from tests.addons import support
from tests.addons.test_applyrules import Run, rule_file, rules_of
from tests.rules.support import rules_of as parsed


def _teapot(value: str, plan: Plan, _context: Context) -> None:
    plan.answer = Answer(418, value.encode(), (("Content-Type", "text/plain"),))


@pytest.fixture
def teapot() -> Iterator[ActionType]:
    """A new action, in the way a module of its own adds one."""
    kind = register(ActionType(
        "teapot", parse=lambda reader, node: reader.text(node, "teapot"), apply=_teapot,
        describe=lambda v: "teapot", answers=lambda v: True))
    try:
        yield kind
    finally:
        del REGISTRY["teapot"]


def test_the_built_in_actions_are_registered_in_the_order_they_apply() -> None:
    assert list(REGISTRY) == ["delay", "drop", "fault", "status", "rewrite", "addressing", "malformed",
                              "transport"]
    action = parsed("  - {name: r, match: {nth: 1}, action: {fault: InvalidArgs, delay: 2}}\n").rules[0].action
    assert action.names == ("delay", "fault") and action.answers and not action.ends
    plan = rules.plan_of(action, Context(delay=2.0))
    assert plan.hold == 2.0 and plan.answer is not None and plan.answer.status == 400


def test_a_registered_action_is_read_described_and_planned(teapot: ActionType) -> None:
    rule = parsed("  - {name: brew, match: {operation: SendImage}, action: {teapot: short and stout}}\n"
                  ).rules[0]
    assert rule.action.names == ("teapot",) and rule.summary() == "teapot on SendImage response"
    plan = rules.plan_of(rule.action)
    assert plan.answer == Answer(418, b"short and stout", (("Content-Type", "text/plain"),))
    with pytest.raises(rules.RuleFileError, match="rule .brew.: expected a single value, got a list"):
        parsed("  - {name: brew, match: {nth: 1}, action: {teapot: [1]}}\n")


async def test_the_proxy_applies_a_registered_action_unchanged(teapot: ActionType, tmp_path: Path) -> None:
    faults = ApplyRules()
    with taddons.context(faults) as tctx:
        tctx.configure(faults, dspscope_rules=[rule_file(tmp_path, """\
  - name: brew
    match: {operation: CreatePostScanJob}
    action: {teapot: I am a teapot}
""")])
        run = Run(tctx, faults)
        req = support.create()
        f: Any = support.flow(req, support.created(req))
        await run.through(f)
    assert f.response.status_code == 418 and f.response.content == b"I am a teapot"
    assert rules_of(f) == [{"name": "brew", "action": "teapot", "side": "response", "detail": "teapot"}]
    assert b"CreatePostScanJobResponse" in f.metadata["dspscope"]["original"]["response"]
