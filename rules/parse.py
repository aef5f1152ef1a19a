"""Rule files: YAML in, a validated RuleSet out, or every problem at once.

The YAML is only composed (safe loader, no tags that construct objects) and
then walked node by node (``reader.Reader``), so each error can name the
file, the rule and the line, and say what was expected.  Nothing in a rule
file is ever executed.  This module reads the file, its rules and their
``match``; ``parse_actions`` reads their ``action``.
"""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dspscope.wsdsp import names, wsscan

from .parse_actions import ActionReader, conflicts
from .reader import RuleError, RuleFileError, Skip, did_you_mean
from .spec import Actions, Match, Network, Rule, RuleSet, Side

MAX_FILE_BYTES = 1 << 20

#: Names a rule's ``operation`` may use, by the side they travel on.
EVENT_NAMES: tuple[str, ...] = (*names.EVENTS, "SubscriptionEnd", *wsscan.EVENTS)
OPERATION_NAMES: tuple[str, ...] = (
    *names.OPERATIONS,
    *names.EVENTING_OPS,
    *names.TRANSFER_OPS,
    *names.DISCOVERY_REQUESTS,
    *wsscan.OPERATIONS,
)
#: Operations whose request carries a JobToken (CreatePostScanJob's comes back
#: in its response; so does CreateScanJob's), and events, which carry one too.
JOB_REQUESTS = (frozenset(names.OPERATIONS) - {"CreatePostScanJob"}) | {"RetrieveImage"}

TOP_KEYS = ("seed", "rules")
RULE_KEYS = ("name", "description", "enabled", "match", "action")
MATCH_KEYS = (
    "operation", "direction", "client", "xpath", "request_xpath", "nth", "every", "nth_in_job",
    "probability", "times", "enabled",
)  # fmt: skip

__all__ = ["RuleError", "RuleFileError", "load", "parse"]

def load(path: str | Path) -> RuleSet:
    """Read and parse one rule file (RuleFileError for anything wrong)."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise RuleFileError([RuleError(file, 0, None, f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise RuleFileError([RuleError(file, 0, None, f"larger than {MAX_FILE_BYTES} bytes; not a rule file")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RuleFileError([RuleError(file, 0, None, f"not UTF-8 text ({exc.reason})")]) from None
    return parse(text, file)


def parse(text: str, file: str = "<rules>") -> RuleSet:
    """Parse and validate the text of a rule file."""
    return _Parser(file).parse(text)


class _Parser(ActionReader):
    """One rule file: its top level, its rules, their ``match``."""

    def parse(self, text: str) -> RuleSet:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 0
            problem = " ".join(filter(None, (exc.context, exc.problem)))
            raise RuleFileError([RuleError(self.file, line, None, f"not valid YAML: {problem}")]) from None
        except yaml.YAMLError as exc:
            raise RuleFileError([RuleError(self.file, 0, None, f"not valid YAML: {exc}")]) from None
        if root is None:
            raise RuleFileError([RuleError(self.file, 0, None, "empty file; expected 'seed:' and 'rules:'")])
        self.check_tags(root)
        if self.errors:
            raise RuleFileError(self.errors)
        rules: list[Rule] = []
        seed: int | None = None
        try:
            top = self.mapping(root, "the file", TOP_KEYS)
        except Skip:
            raise RuleFileError(self.errors) from None
        if "seed" in top:
            seed = self.attempt(self.count, top["seed"][1], "seed", minimum=0)
        if "rules" not in top:
            self.error(root, "missing 'rules:' (a list of rules)")
        else:
            rules = self.rules(top["rules"][1])
        if self.errors:
            raise RuleFileError(self.errors)
        given = seed is not None
        if seed is None:
            seed = random.SystemRandom().randrange(1 << 32)
        return RuleSet(rules=tuple(rules), seed=seed, seed_given=given, file=self.file)

    def rules(self, node: Node) -> list[Rule]:
        if not isinstance(node, SequenceNode):
            self.error(node, f"rules: expected a list of rules ('- name: ...'), got {self.describe(node)}")
            return []
        out: list[Rule] = []
        for index, item in enumerate(node.value, 1):
            self.rule = f"#{index}"
            rule = self.attempt(self.one_rule, item)
            if rule is not None:
                out.append(rule)
            self.rule = None
        return out

    def one_rule(self, node: Node) -> Rule:
        before = len(self.errors)
        if isinstance(node, MappingNode):  # name the rule in errors about its other keys too
            for key, value in node.value:
                if (getattr(key, "value", None) == "name" and isinstance(value, ScalarNode)
                        and value.tag == "tag:yaml.org,2002:str" and value.value.strip()):
                    self.rule = value.value
        fields = self.mapping(node, "a rule", RULE_KEYS)
        if "name" not in fields:
            self.error(node, "missing 'name:' (a short name, unique in the file)")
        else:
            name_node = fields["name"][1]
            name = self.attempt(self.text, name_node, "name")
            if name is not None:
                self.rule = name
                if name in self.seen:
                    self.error(name_node, f"name {name!r} is already used by the rule on line {self.seen[name]}")
                else:
                    self.seen[name] = node.start_mark.line + 1
        description = ""
        if "description" in fields:
            description = self.attempt(self.text, fields["description"][1], "description") or ""
        enabled = True
        if "enabled" in fields:
            enabled = bool(self.attempt(self.flag, fields["enabled"][1], "enabled"))
        match: Match | None = None
        if "match" not in fields:
            self.error(node, "missing 'match:' (which messages, e.g. operation: SendImage)")
        else:
            match_node = fields["match"][1]
            found = self.attempt(self.match, match_node)
            if found is not None:
                match, match_enabled = found
                if match_enabled is not None:
                    if "enabled" in fields:
                        self.error(match_node, "'enabled' is given both in the rule and in its match; keep one")
                    enabled = match_enabled
        actions: Actions | None = None
        if "action" not in fields:
            self.error(node, "missing 'action:' (what to do, e.g. fault: ServerErrorTemporaryError)")
        else:
            actions = self.attempt(self.actions, fields["action"][1])
        if match is not None and actions is not None:
            for problem in conflicts(actions, match):
                self.error(fields["action"][0], problem)
        if len(self.errors) > before or match is None or actions is None:
            raise Skip()
        return Rule(name=self.rule or "", match=match, action=actions, enabled=enabled,
                    description=description, file=self.file, line=node.start_mark.line + 1)

    # ---------------------------------------------------------------- match

    def match(self, node: Node) -> tuple[Match, bool | None]:
        before = len(self.errors)
        fields = self.mapping(node, "match", MATCH_KEYS)
        if isinstance(node, MappingNode) and not node.value:
            raise self.fail(node, "match: needs at least one condition, e.g. operation: SendImage")
        get: dict[str, Any] = {}
        if "operation" in fields:
            get["operations"] = self.attempt(self.operations, fields["operation"][1])
        if "direction" in fields:
            get["direction"] = self.attempt(self.direction, fields["direction"][1])
        if "client" in fields:
            get["clients"] = self.attempt(self.clients, fields["client"][1])
        if "xpath" in fields:
            get["xpath"] = self.attempt(self.xpath, fields["xpath"][1], "xpath")
        if "request_xpath" in fields:
            get["request_xpath"] = self.attempt(self.xpath, fields["request_xpath"][1], "request_xpath")
        for key in ("nth", "every", "nth_in_job", "times"):
            if key in fields:
                get[key] = self.attempt(self.count, fields[key][1], key)
        if "probability" in fields:
            get["probability"] = self.attempt(self.number, fields["probability"][1], "probability", 0, 1)
        enabled = None
        if "enabled" in fields:
            enabled = self.attempt(self.flag, fields["enabled"][1], "enabled")
        if len(self.errors) > before:
            raise Skip()
        operations: tuple[str, ...] = get.get("operations") or ()
        direction = get.get("direction") or _default_direction(operations)
        self.check_direction(fields, operations, direction)
        if "request_xpath" in fields and direction != "response":
            self.error(fields["request_xpath"][0],
                       f"request_xpath tests the request a response rule acts on; this rule's direction "
                       f"is {direction}, where xpath already sees the {direction}: use xpath")
        if "nth_in_job" in get:
            self.check_nth_in_job(fields, operations, direction)
        if len(self.errors) > before:
            raise Skip()
        match = Match(
            operations=operations, direction=direction, clients=get.get("clients") or (),
            xpath=get.get("xpath"), request_xpath=get.get("request_xpath"),
            nth=get.get("nth"), every=get.get("every"),
            nth_in_job=get.get("nth_in_job"), probability=get.get("probability"), times=get.get("times"),
        )
        return match, enabled

    def operations(self, node: Node) -> tuple[str, ...]:
        out = []
        known = (*OPERATION_NAMES, *EVENT_NAMES)
        for item, name in self.texts(node, "operation"):
            name = name.strip()
            base = name.removesuffix("Request").removesuffix("Response")
            if base != name and (base in names.OPERATIONS or base in wsscan.OPERATIONS):
                self.error(item, f"operation: {name!r} is a message name; use the operation name "
                                 f"{base!r} (and direction: request or response)")
            elif name not in known:
                self.error(item, f"operation: unknown name {name!r}{did_you_mean(name, known)}; "
                                 f"expected a WS-DSP operation ({', '.join(names.OPERATIONS)}), "
                                 f"an event ({', '.join(EVENT_NAMES)}) or one of "
                                 f"{', '.join(OPERATION_NAMES[len(names.OPERATIONS):])}")
            else:
                out.append(name)
        if len(out) != len(node.value if isinstance(node, SequenceNode) else [node]):
            raise Skip()
        return tuple(dict.fromkeys(out))

    def direction(self, node: Node) -> Side:
        value = self.text(node, "direction")
        if value not in ("request", "response", "event"):
            raise self.fail(node, f"direction: expected request, response or event, got {value!r}")
        return cast(Side, value)

    def check_direction(self, fields: dict[str, tuple[Node, Node]], operations: tuple[str, ...],
                        direction: Side) -> None:
        events = [op for op in operations if op in EVENT_NAMES]
        others = [op for op in operations if op not in EVENT_NAMES]
        node = fields["direction"][1] if "direction" in fields else fields.get("operation", (None, None))[1]
        if events and others:
            self.error(node, f"operation mixes events ({', '.join(events)}) with operations "
                             f"({', '.join(others)}); write one rule for each")
        elif direction == "event" and others:
            self.error(node, f"direction: event, but {', '.join(others)} is an operation, not an event; "
                             f"use direction: request or response")
        elif direction != "event" and events:
            self.error(node, f"direction: {direction}, but {', '.join(events)} is an event; "
                             f"use direction: event (or leave direction out)")

    def check_nth_in_job(self, fields: dict[str, tuple[Node, Node]], operations: tuple[str, ...],
                         direction: Side) -> None:
        node = fields["nth_in_job"][1]
        if "nth" in fields or "every" in fields:
            self.error(node, "nth_in_job counts per job, nth and every per rule; use one of them")
        if not operations:
            self.error(node, "nth_in_job needs an operation (e.g. operation: SendImage) to count in each job")
        no_token = [op for op in operations
                    if op not in JOB_REQUESTS and op not in names.EVENTS
                    and not (op == "CreatePostScanJob" and direction == "response")]
        if no_token:
            what = ", ".join(no_token)
            hint = (" (CreatePostScanJob gets its JobToken in the response: use direction: response)"
                    if "CreatePostScanJob" in no_token else "")
            self.error(node, f"nth_in_job: {what} carries no JobToken, so it belongs to no job{hint}")

    def clients(self, node: Node) -> tuple[Network, ...]:
        out = []
        for item, text in self.texts(node, "client"):
            try:
                out.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                self.error(item, f"client: {text!r} is not an IP address or CIDR network "
                                 f"(e.g. 192.0.2.10, 10.0.0.0/8, 2001:db8::/32)")
        if len(out) != len(node.value if isinstance(node, SequenceNode) else [node]):
            raise Skip()
        return tuple(out)


def _default_direction(operations: tuple[str, ...]) -> Side:
    if operations and all(op in EVENT_NAMES for op in operations):
        return "event"
    return "response"
