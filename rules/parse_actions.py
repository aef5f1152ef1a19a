"""The ``action`` of a rule: each action key read into its spec value, and
the combinations that make no sense named (``conflicts``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, cast

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dspscope.wsdsp import names, wsscan

from . import builtin_actions  # noqa: F401 - registers the built-in actions
from .edits import attribute_name, parse_fragment
from .reader import XPATH_PREFIXES, Reader, Skip, as_header_value, as_int, did_you_mean
from .registry import REGISTRY
from .spec import (
    Actions,
    AddressingAction,
    DelayAction,
    Edit,
    EditKind,
    FaultAction,
    Match,
    Position,
    StatusAction,
    TransportAction,
)

MAX_DELAY = 3600.0
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

_NCNAME = re.compile(r"[A-Za-z_][\w.\-]*")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class ActionReader(Reader):
    """Reads a rule's ``action`` mapping into Actions."""

    def actions(self, node: Node) -> Actions:
        """Each key through its registered action type (registry.py)."""
        before = len(self.errors)
        keys = tuple(REGISTRY)
        fields = self.mapping(node, "action", keys)
        if isinstance(node, MappingNode) and not node.value:
            raise self.fail(node, f"action: needs at least one of {', '.join(keys)}")
        got: dict[str, Any] = {}
        for key, (_, value) in fields.items():
            got[key] = self.attempt(lambda n, key=key: REGISTRY[key].parse(self, n), value)
        if len(self.errors) > before:
            raise Skip()
        return Actions.of(got)

    def fault(self, node: Node) -> FaultAction:
        if isinstance(node, ScalarNode):
            return FaultAction(subcode=self.fault_name(node))
        fields = self.mapping(node, "fault", FAULT_KEYS)
        if "subcode" not in fields:
            raise self.fail(node, "fault: missing 'subcode:' (a spec name such as InvalidArgs, "
                                  "or your own with code: and reason:)")
        sub_node = fields["subcode"][1]
        subcode = self.text(sub_node, "fault subcode").strip()
        custom = subcode not in names.FAULTS and subcode not in wsscan.FAULTS
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
            self.error(sub_node, f"fault: {subcode!r} is not a spec subcode{did_you_mean(subcode, names.FAULTS)}; "
                                 f"spec subcodes are {', '.join(names.FAULTS)}; a custom one needs code: and reason:")
        if any(v is None for v in values.values()):
            raise Skip()
        return FaultAction(subcode=subcode, **values)

    def fault_name(self, node: Node) -> str:
        name = self.text(node, "fault").strip()
        known = {**names.FAULTS, **wsscan.FAULTS}
        if name.partition(":")[2] in known:
            name = name.partition(":")[2]
        if name not in known:
            raise self.fail(node, f"fault: unknown subcode {name!r}{did_you_mean(name, known)}; "
                                  f"expected one of {', '.join(names.FAULTS)} (WS-DSP) or "
                                  f"{', '.join(k for k in wsscan.FAULTS if k not in names.FAULTS)} "
                                  f"(WS-Scan) (or a mapping with subcode:, code:, reason:)")
        return name

    def http_status(self, node: Node, what: str) -> int:
        value = self.typed(node, what, as_int, "an HTTP status code (100-599)")
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
            raise Skip()
        return StatusAction(code=code, body=body, headers=headers)

    def headers(self, node: Node) -> tuple[tuple[str, str], ...]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"status headers: expected a mapping of header name to value, "
                                  f"got {self.describe(node)}")
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = self.attempt(self.text, key_node, "status header name")
            value = self.attempt(self.typed, value_node, f"header {name}", as_header_value, "text or a number")
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
            raise Skip()
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
                raise Skip()
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
            raise Skip()
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
            raise Skip()
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
            raise Skip()
        xpath = self.xpath(fields["xpath"][1], "rewrite xpath")
        kind = cast(EditKind, ops[0])
        value = fields[kind][1]
        if "position" in fields and kind != "insert":
            raise self.fail(fields["position"][0], "rewrite edit: position goes with insert only")
        if kind == "text":
            text = self.typed(value, "rewrite text", as_header_value, "text")
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
            value = self.typed(value_node, f"attribute {key}", as_header_value, "text or a number")
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
                                  f"{did_you_mean(word, MALFORMED_KINDS)}")
        return word

    def drop(self, node: Node) -> bool:
        if self.flag(node, "drop") is not True:
            raise self.fail(node, "drop: write drop: true (or leave it out)")
        return True


def conflicts(a: Actions, match: Match) -> Iterator[str]:
    """Why these actions cannot go together (on this side), if they cannot."""
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


