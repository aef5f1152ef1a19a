"""Rule files: YAML in, a validated RuleSet out, or every problem at once.

The YAML is only composed (safe loader, no tags that construct objects) and
then walked node by node, so each error can name the file, the rule and the
line, and say what was expected.  Nothing in a rule file is ever executed.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from lxml import etree
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from wsdsp import names

from .edits import attribute_name, parse_fragment
from .spec import (
    Actions,
    AddressingAction,
    DelayAction,
    Edit,
    EditKind,
    FaultAction,
    Match,
    Network,
    Position,
    Rule,
    RuleSet,
    Side,
    StatusAction,
    TransportAction,
    XPathExpr,
)

MAX_FILE_BYTES = 1 << 20
MAX_DELAY = 3600.0

#: Names a rule's ``operation`` may use, by the side they travel on.
EVENT_NAMES: tuple[str, ...] = (*names.EVENTS, "SubscriptionEnd")
OPERATION_NAMES: tuple[str, ...] = (
    *names.OPERATIONS,
    *names.EVENTING_OPS,
    *names.TRANSFER_OPS,
    *names.DISCOVERY_REQUESTS,
)
#: Operations whose request carries a JobToken (CreatePostScanJob's comes back
#: in its response), and events, which carry one too.
JOB_REQUESTS = frozenset(names.OPERATIONS) - {"CreatePostScanJob"}
#: XPath prefixes predefined in rules.
XPATH_PREFIXES: dict[str, str] = dict(names.PREFIXES)

TOP_KEYS = ("seed", "rules")
RULE_KEYS = ("name", "description", "enabled", "match", "action")
MATCH_KEYS = (
    "operation", "direction", "client", "xpath", "nth", "every", "nth_in_job",
    "probability", "times", "enabled",
)  # fmt: skip
ACTION_KEYS = ("fault", "status", "delay", "transport", "rewrite", "addressing", "malformed", "drop")
FAULT_KEYS = ("subcode", "code", "reason", "detail", "status", "namespace")
FAULT_CODES = ("Sender", "Receiver", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown")
STATUS_KEYS = ("code", "body", "headers")
DELAY_KEYS = ("mean", "jitter")
TRANSPORT_WORDS = ("reset", "close", "hang")
TRANSPORT_KEYS = ("truncate", "throttle")
EDIT_OPERATIONS = ("text", "set_attribute", "remove_attribute", "remove", "insert")
EDIT_KEYS = ("xpath", *EDIT_OPERATIONS, "position")
POSITIONS = ("append", "prepend", "before", "after")
ADDRESSING_KEYS = ("relates_to", "message_id")
MALFORMED_KINDS = ("unclosed", "wrong-namespace", "invalid-utf8")

_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")
)
_NCNAME = re.compile(r"[A-Za-z_][\w.\-]*")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PROBE = etree.fromstring(
    f'<soap:Envelope xmlns:soap="{names.SOAP12}"><soap:Header/><soap:Body/></soap:Envelope>'.encode()
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RuleError:
    """One problem in a rule file."""

    file: str
    line: int
    rule: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        who = f" rule {self.rule!r}:" if self.rule else ""
        return f"{where}:{who} {self.message}"


class RuleFileError(ValueError):
    """A rule file that cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: list[RuleError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = tuple(errors)


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


class _Skip(Exception):
    """A value was wrong; its error is recorded, the caller skips it."""


class _Parser:
    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[RuleError] = []
        self.rule: str | None = None
        self.seen: dict[str, int] = {}
        self._constructor = SafeConstructor()

    # ---------------------------------------------------------------- errors

    def error(self, node: Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.errors.append(RuleError(self.file, line, self.rule, message))

    def fail(self, node: Node | None, message: str) -> _Skip:
        self.error(node, message)
        return _Skip()

    # ----------------------------------------------------------- node access

    def scalar(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, f"expected a single value, got a {_shape(node)}")
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise self.fail(node, f"unsupported value ({problem}); rule files hold plain values only") from None

    def mapping(self, node: Node, where: str, keys: tuple[str, ...]) -> dict[str, tuple[Node, Node]]:
        """{key: (key node, value node)}; unknown and repeated keys are errors."""
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{where}: expected a mapping (key: value lines), got {self.describe(node)}")
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str) or key_node.tag != "tag:yaml.org,2002:str":
                self.error(key_node, f"{where}: keys must be plain names, got {self.describe(key_node)}")
                continue
            if key not in keys:
                self.error(key_node, f"unknown key {key!r} in {where}{_did_you_mean(key, keys)}; "
                                     f"expected one of: {', '.join(keys)}")
                continue
            if key in out:
                self.error(key_node, f"{where}: key {key!r} given twice")
                continue
            out[key] = (key_node, value_node)
        return out

    def describe(self, node: Node) -> str:
        if isinstance(node, ScalarNode):
            try:
                value = self._constructor.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, TypeError):
                return repr(node.value)
            if value is None:
                return "nothing"
            return f"{value!r} ({_type_name(value)})"
        return f"a {_shape(node)}"

    def typed(self, node: Node, what: str, check: Callable[[Any], T | None], expected: str) -> T:
        value = self.scalar(node)
        converted = check(value)
        if converted is None:
            hint = ""
            if isinstance(value, bool) and isinstance(node, ScalarNode) and node.value.lower() not in ("true", "false"):
                hint = f"; YAML reads {node.value} as {str(value).lower()}, quote it: '{node.value}'"
            raise self.fail(node, f"{what}: expected {expected}, got {self.describe(node)}{hint}")
        return converted

    def text(self, node: Node, what: str, *, empty: bool = False) -> str:
        value = self.typed(node, what, _as_str, "text")
        if not empty and not value.strip():
            raise self.fail(node, f"{what}: expected non-empty text")
        return value

    def count(self, node: Node, what: str, *, minimum: int = 1) -> int:
        words = "a whole number of at least 1" if minimum == 1 else f"a whole number >= {minimum}"
        value = self.typed(node, what, _as_int, words)
        if value < minimum:
            raise self.fail(node, f"{what}: expected {words}, got {value}")
        return value

    def number(self, node: Node, what: str, low: float, high: float) -> float:
        value = self.typed(node, what, _as_float, f"a number from {low:g} to {high:g}")
        if not low <= value <= high:
            raise self.fail(node, f"{what}: expected a number from {low:g} to {high:g}, got {value:g}")
        return value

    def flag(self, node: Node, what: str) -> bool:
        return self.typed(node, what, _as_bool, "true or false")

    def texts(self, node: Node, what: str) -> list[tuple[Node, str]]:
        """One text or a list of texts, each with its node."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not items:
            raise self.fail(node, f"{what}: expected one name or a list of names, got an empty list")
        out = []
        for item in items:
            try:
                out.append((item, self.text(item, what)))
            except _Skip:
                pass
        return out

    def attempt(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """fn(*args, **kwargs), or None when it recorded an error."""
        try:
            return fn(*args, **kwargs)
        except _Skip:
            return None

    # ----------------------------------------------------------------- file

    def check_tags(self, root: Node) -> None:
        """Refuse explicit tags (!!python/..., !!binary, ...) anywhere."""
        seen: set[int] = set()
        stack = [root]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.tag not in _PLAIN_TAGS:
                self.error(node, f"YAML tag {node.tag.replace('tag:yaml.org,2002:', '!!')!r} is not allowed; "
                                 f"rule files hold plain values only")
            if isinstance(node, MappingNode):
                stack.extend(n for pair in node.value for n in pair)
            elif isinstance(node, SequenceNode):
                stack.extend(node.value)

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
        except _Skip:
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
            for problem in _conflicts(actions, match):
                self.error(fields["action"][0], problem)
        if len(self.errors) > before or match is None or actions is None:
            raise _Skip()
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
        for key in ("nth", "every", "nth_in_job", "times"):
            if key in fields:
                get[key] = self.attempt(self.count, fields[key][1], key)
        if "probability" in fields:
            get["probability"] = self.attempt(self.number, fields["probability"][1], "probability", 0, 1)
        enabled = None
        if "enabled" in fields:
            enabled = self.attempt(self.flag, fields["enabled"][1], "enabled")
        if len(self.errors) > before:
            raise _Skip()
        operations: tuple[str, ...] = get.get("operations") or ()
        direction = get.get("direction") or _default_direction(operations)
        self.check_direction(fields, operations, direction)
        if "nth_in_job" in get:
            self.check_nth_in_job(fields, operations, direction)
        if len(self.errors) > before:
            raise _Skip()
        match = Match(
            operations=operations, direction=direction, clients=get.get("clients") or (),
            xpath=get.get("xpath"), nth=get.get("nth"), every=get.get("every"),
            nth_in_job=get.get("nth_in_job"), probability=get.get("probability"), times=get.get("times"),
        )
        return match, enabled

    def operations(self, node: Node) -> tuple[str, ...]:
        out = []
        known = (*OPERATION_NAMES, *EVENT_NAMES)
        for item, name in self.texts(node, "operation"):
            name = name.strip()
            base = name.removesuffix("Request").removesuffix("Response")
            if base != name and base in names.OPERATIONS:
                self.error(item, f"operation: {name!r} is a message name; use the operation name "
                                 f"{base!r} (and direction: request or response)")
            elif name not in known:
                self.error(item, f"operation: unknown name {name!r}{_did_you_mean(name, known)}; "
                                 f"expected a WS-DSP operation ({', '.join(names.OPERATIONS)}), "
                                 f"an event ({', '.join(EVENT_NAMES)}) or one of "
                                 f"{', '.join(OPERATION_NAMES[len(names.OPERATIONS):])}")
            else:
                out.append(name)
        if len(out) != len(node.value if isinstance(node, SequenceNode) else [node]):
            raise _Skip()
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
            raise _Skip()
        return tuple(out)

    def xpath(self, node: Node, what: str) -> XPathExpr:
        text = self.text(node, what)
        try:
            compiled = etree.XPath(text, namespaces=XPATH_PREFIXES)
        except etree.XPathSyntaxError as exc:
            raise self.fail(node, f"{what}: {text!r} is not valid XPath 1.0 ({exc})") from None
        try:
            compiled(_PROBE)
        except etree.XPathError as exc:
            raise self.fail(node, f"{what}: {text!r} cannot be evaluated ({exc}); the predefined prefixes are "
                                  f"{', '.join(XPATH_PREFIXES)}") from None
        return XPathExpr(text, compiled)

    # -------------------------------------------------------------- actions

    def actions(self, node: Node) -> Actions:
        before = len(self.errors)
        fields = self.mapping(node, "action", ACTION_KEYS)
        if isinstance(node, MappingNode) and not node.value:
            raise self.fail(node, f"action: needs at least one of {', '.join(ACTION_KEYS)}")
        parsers: dict[str, Callable[[Node], Any]] = {
            "fault": self.fault,
            "status": self.status,
            "delay": self.delay,
            "transport": self.transport,
            "rewrite": self.rewrite,
            "addressing": self.addressing,
            "malformed": self.malformed,
            "drop": self.drop,
        }
        got: dict[str, Any] = {}
        for key, (_, value) in fields.items():
            got[key] = self.attempt(parsers[key], value)
        if len(self.errors) > before:
            raise _Skip()
        actions = Actions(
            fault=got.get("fault"), status=got.get("status"), delay=got.get("delay"),
            transport=got.get("transport"), rewrite=got.get("rewrite") or (),
            addressing=got.get("addressing"), malformed=got.get("malformed"), drop=bool(got.get("drop")),
        )
        return actions

    def fault(self, node: Node) -> FaultAction:
        if isinstance(node, ScalarNode):
            return FaultAction(subcode=self.fault_name(node))
        fields = self.mapping(node, "fault", FAULT_KEYS)
        if "subcode" not in fields:
            raise self.fail(node, "fault: missing 'subcode:' (a spec name such as InvalidArgs, "
                                  "or your own with code: and reason:)")
        sub_node = fields["subcode"][1]
        subcode = self.text(sub_node, "fault subcode").strip()
        custom = subcode not in names.FAULTS
        if not _NCNAME.fullmatch(subcode):
            raise self.fail(sub_node, f"fault subcode: {subcode!r} is not an XML name (letters, digits, . - _)")
        values: dict[str, Any] = {}
        for key in ("reason", "detail", "namespace"):
            if key in fields:
                values[key] = self.attempt(self.text, fields[key][1], f"fault {key}")
        if "code" in fields:
            code = self.attempt(self.text, fields["code"][1], "fault code")
            if code is not None and code not in FAULT_CODES:
                self.error(fields["code"][1], f"fault code: expected one of {', '.join(FAULT_CODES)}, got {code!r}")
            values["code"] = code
        if "status" in fields:
            values["status"] = self.attempt(self.http_status, fields["status"][1], "fault status")
        if custom and ("code" not in fields or "reason" not in fields):
            self.error(sub_node, f"fault: {subcode!r} is not a spec subcode{_did_you_mean(subcode, names.FAULTS)}; "
                                 f"spec subcodes are {', '.join(names.FAULTS)}; a custom one needs code: and reason:")
        if any(v is None for v in values.values()):
            raise _Skip()
        return FaultAction(subcode=subcode, **values)

    def fault_name(self, node: Node) -> str:
        name = self.text(node, "fault").strip()
        if name.partition(":")[2] in names.FAULTS:
            name = name.partition(":")[2]
        if name not in names.FAULTS:
            raise self.fail(node, f"fault: unknown subcode {name!r}{_did_you_mean(name, names.FAULTS)}; "
                                  f"expected one of {', '.join(names.FAULTS)} "
                                  f"(or a mapping with subcode:, code:, reason:)")
        return name

    def http_status(self, node: Node, what: str) -> int:
        value = self.typed(node, what, _as_int, "an HTTP status code (100-599)")
        if not 100 <= value <= 599:
            raise self.fail(node, f"{what}: expected an HTTP status code (100-599), got {value}")
        return value

    def status(self, node: Node) -> StatusAction:
        if isinstance(node, ScalarNode):
            return StatusAction(code=self.http_status(node, "status"))
        fields = self.mapping(node, "status", STATUS_KEYS)
        if "code" not in fields:
            raise self.fail(node, "status: missing 'code:' (e.g. code: 503)")
        code = self.attempt(self.http_status, fields["code"][1], "status code")
        body = None
        if "body" in fields:
            body = self.attempt(self.text, fields["body"][1], "status body", empty=True)
        headers: tuple[tuple[str, str], ...] | None = ()
        if "headers" in fields:
            headers = self.attempt(self.headers, fields["headers"][1])
        if code is None or headers is None or ("body" in fields and body is None):
            raise _Skip()
        return StatusAction(code=code, body=body, headers=headers)

    def headers(self, node: Node) -> tuple[tuple[str, str], ...]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"status headers: expected a mapping of header name to value, "
                                  f"got {self.describe(node)}")
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = self.attempt(self.text, key_node, "status header name")
            value = self.attempt(self.typed, value_node, f"header {name}", _as_header_value, "text or a number")
            if name is None or value is None:
                continue
            if not _TOKEN.fullmatch(name):
                self.error(key_node, f"status headers: {name!r} is not a valid HTTP header name")
            elif name.lower() in seen:
                self.error(key_node, f"status headers: {name!r} given twice")
            elif "\r" in value or "\n" in value:
                self.error(value_node, f"header {name}: a header value cannot hold a line break")
            else:
                seen.add(name.lower())
                out.append((name, value))
        if len(out) != len(node.value):
            raise _Skip()
        return tuple(out)

    def delay(self, node: Node) -> DelayAction:
        limit = f"0 to {MAX_DELAY:g}"
        if isinstance(node, ScalarNode):
            seconds = self.number(node, "delay", 0, MAX_DELAY)
            return DelayAction(seconds, seconds)
        if isinstance(node, SequenceNode):
            if len(node.value) != 2:
                raise self.fail(node, f"delay: a range is [min, max] (two numbers), got {len(node.value)} items")
            low = self.attempt(self.number, node.value[0], "delay min", 0, MAX_DELAY)
            high = self.attempt(self.number, node.value[1], "delay max", 0, MAX_DELAY)
            if low is None or high is None:
                raise _Skip()
            if low > high:
                raise self.fail(node, f"delay: range [{low:g}, {high:g}] has min above max")
            return DelayAction(low, high)
        fields = self.mapping(node, "delay", DELAY_KEYS)
        if "mean" not in fields:
            raise self.fail(node, f"delay: expected seconds ({limit}), [min, max] or {{mean: S, jitter: S}}")
        mean = self.attempt(self.number, fields["mean"][1], "delay mean", 0, MAX_DELAY)
        jitter: float | None = 0.0
        if "jitter" in fields:
            jitter = self.attempt(self.number, fields["jitter"][1], "delay jitter", 0, MAX_DELAY)
        if mean is None or jitter is None:
            raise _Skip()
        return DelayAction(max(0.0, mean - jitter), mean + jitter)

    def transport(self, node: Node) -> TransportAction:
        if isinstance(node, ScalarNode):
            word = self.text(node, "transport").strip()
            if word in TRANSPORT_KEYS:
                raise self.fail(node, f"transport: {word} needs a number, e.g. transport: {{{word}: 1000}}")
            if word not in TRANSPORT_WORDS:
                raise self.fail(node, f"transport: expected reset, close, hang, {{truncate: BYTES}} or "
                                      f"{{throttle: BYTES_PER_SECOND}}, got {word!r}")
            return TransportAction(cast(Any, word))
        fields = self.mapping(node, "transport", TRANSPORT_KEYS)
        if len(fields) != 1:
            raise self.fail(node, "transport: give exactly one of truncate: BYTES or throttle: BYTES_PER_SECOND")
        (key, (_, value)), = fields.items()
        amount = self.count(value, f"transport {key}", minimum=0 if key == "truncate" else 1)
        return TransportAction(cast(Any, key), amount)

    def rewrite(self, node: Node) -> tuple[Edit, ...]:
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.fail(node, "rewrite: expected a list of edits ('- xpath: ...' with text:, "
                                  "set_attribute:, remove_attribute:, remove: true or insert:)")
        edits = [self.attempt(self.edit, item) for item in node.value]
        if any(e is None for e in edits):
            raise _Skip()
        return tuple(cast(list[Edit], edits))

    def edit(self, node: Node) -> Edit:
        fields = self.mapping(node, "a rewrite edit", EDIT_KEYS)
        ops = [k for k in EDIT_OPERATIONS if k in fields]
        if "xpath" not in fields:
            self.error(node, "rewrite edit: missing 'xpath:' (the elements to edit)")
        if len(ops) != 1:
            got = f"got {', '.join(ops)}" if ops else "got none"
            raise self.fail(node, f"rewrite edit: give exactly one of {', '.join(EDIT_OPERATIONS)} ({got})")
        if "xpath" not in fields:
            raise _Skip()
        xpath = self.xpath(fields["xpath"][1], "rewrite xpath")
        kind = cast(EditKind, ops[0])
        value = fields[kind][1]
        if "position" in fields and kind != "insert":
            raise self.fail(fields["position"][0], "rewrite edit: position goes with insert only")
        if kind == "text":
            text = self.typed(value, "rewrite text", _as_header_value, "text")
            return Edit(xpath, kind, text=text)
        if kind == "set_attribute":
            pairs = self.set_attributes(value)
            return Edit(xpath, kind, attributes=pairs)
        if kind == "remove_attribute":
            names_ = [(item, self.attribute(item, text)) for item, text in self.texts(value, "remove_attribute")]
            return Edit(xpath, kind, attributes=tuple((n, "") for _, n in names_))
        if kind == "remove":
            if self.flag(value, "remove") is not True:
                raise self.fail(value, "remove: write remove: true (or leave the edit out)")
            return Edit(xpath, kind)
        fragment = self.text(value, "insert")
        try:
            parse_fragment(fragment)
        except ValueError as exc:
            raise self.fail(value, f"insert: {exc}") from None
        position: Position = "append"
        if "position" in fields:
            word = self.text(fields["position"][1], "position")
            if word not in POSITIONS:
                raise self.fail(fields["position"][1], f"position: expected {', '.join(POSITIONS)}, got {word!r}")
            position = cast(Position, word)
        return Edit(xpath, kind, fragment=fragment, position=position)

    def set_attributes(self, node: Node) -> tuple[tuple[str, str], ...]:
        if not isinstance(node, MappingNode) or not node.value:
            raise self.fail(node, "set_attribute: expected a mapping of attribute name to value, "
                                  "e.g. set_attribute: {Name: dsp:JobStatus}")
        out = []
        for key_node, value_node in node.value:
            key = self.text(key_node, "set_attribute name")
            name = self.attribute(key_node, key)
            value = self.typed(value_node, f"attribute {key}", _as_header_value, "text or a number")
            out.append((name, value))
        return tuple(out)

    def attribute(self, node: Node, text: str) -> str:
        try:
            return attribute_name(text.strip(), XPATH_PREFIXES)
        except ValueError as exc:
            raise self.fail(node, f"attribute {text!r}: {exc}") from None

    def addressing(self, node: Node) -> AddressingAction:
        fields = self.mapping(node, "addressing", ADDRESSING_KEYS)
        if not fields:
            raise self.fail(node, "addressing: give relates_to: wrong|missing and/or message_id: duplicate")
        relates = message_id = None
        if "relates_to" in fields:
            relates = self.text(fields["relates_to"][1], "addressing relates_to")
            if relates not in ("wrong", "missing"):
                raise self.fail(fields["relates_to"][1], f"relates_to: expected wrong or missing, got {relates!r}")
        if "message_id" in fields:
            message_id = self.text(fields["message_id"][1], "addressing message_id")
            if message_id != "duplicate":
                raise self.fail(fields["message_id"][1], f"message_id: expected duplicate, got {message_id!r}")
        return AddressingAction(relates_to=cast(Any, relates), message_id=cast(Any, message_id))

    def malformed(self, node: Node) -> str:
        word = self.text(node, "malformed").strip()
        if word not in MALFORMED_KINDS:
            raise self.fail(node, f"malformed: expected {', '.join(MALFORMED_KINDS)}, got {word!r}"
                                  f"{_did_you_mean(word, MALFORMED_KINDS)}")
        return word

    def drop(self, node: Node) -> bool:
        if self.flag(node, "drop") is not True:
            raise self.fail(node, "drop: write drop: true (or leave it out)")
        return True


def _conflicts(a: Actions, match: Match) -> Iterator[str]:
    side = match.direction
    if a.fault is not None and a.status is not None:
        yield "fault and status both answer the message; keep one"
    if a.drop:
        if side != "event":
            yield f"drop acts on events only (direction: event), not on a {side}"
        others = [n for n in a.names if n not in ("drop", "delay")]
        if others:
            yield f"drop throws the event away, so {', '.join(others)} would never be seen; keep drop (and delay) only"
    transport = a.transport
    if transport is not None and transport.kind in ("reset", "close", "hang"):
        others = [n for n in a.names if n not in ("transport", "delay")]
        if others:
            yield (f"transport {transport.kind} sends nothing, so {', '.join(others)} would never be seen; "
                   f"keep {transport.kind} (and delay) only")
    if transport is not None and transport.kind in ("truncate", "throttle") and side != "response":
        yield f"transport {transport.kind} shapes the response to the device; use direction: response"
    if a.status is not None and a.edits:
        edits = [n for n in ("rewrite", "addressing", "malformed") if n in a.names]
        yield f"status gives its own body, so {', '.join(edits)} has nothing to edit; keep one"
    if a.addressing is not None and a.addressing.relates_to and side != "response" and a.fault is None:
        yield (f"addressing relates_to changes a response's RelatesTo; {_article(side)} {side} has none "
               f"(use direction: response, or pair it with fault:)")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _default_direction(operations: tuple[str, ...]) -> Side:
    if operations and all(op in EVENT_NAMES for op in operations):
        return "event"
    return "response"


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _shape(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    return "value"


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_header_value(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value)
    return None
