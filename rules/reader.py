"""Reading composed YAML nodes: values of the expected type or an error
that names the file, the line and the rule, and says what was expected.

Nothing is constructed from a node until its tag is known to be a plain
one (str, int, float, bool, null, map, seq), so a rule file can never
build objects.  Validation goes on after an error, so that one run shows
every problem of a file.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from lxml import etree
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dspscope.wsdsp import names

from .spec import XPathExpr

#: XPath prefixes predefined in rules.
XPATH_PREFIXES: dict[str, str] = dict(names.PREFIXES)
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")
)
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


class Skip(Exception):
    """A value was wrong; its error is recorded, the caller skips it."""


class Reader:
    """Node access for one file; ``rule`` names the rule being read."""

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

    def fail(self, node: Node | None, message: str) -> Skip:
        self.error(node, message)
        return Skip()

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
                self.error(key_node, f"unknown key {key!r} in {where}{did_you_mean(key, keys)}; "
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
        value = self.typed(node, what, as_str, "text")
        if not empty and not value.strip():
            raise self.fail(node, f"{what}: expected non-empty text")
        return value

    def count(self, node: Node, what: str, *, minimum: int = 1) -> int:
        words = "a whole number of at least 1" if minimum == 1 else f"a whole number >= {minimum}"
        value = self.typed(node, what, as_int, words)
        if value < minimum:
            raise self.fail(node, f"{what}: expected {words}, got {value}")
        return value

    def number(self, node: Node, what: str, low: float, high: float) -> float:
        value = self.typed(node, what, as_float, f"a number from {low:g} to {high:g}")
        if not low <= value <= high:
            raise self.fail(node, f"{what}: expected a number from {low:g} to {high:g}, got {value:g}")
        return value

    def flag(self, node: Node, what: str) -> bool:
        return self.typed(node, what, as_bool, "true or false")

    def texts(self, node: Node, what: str) -> list[tuple[Node, str]]:
        """One text or a list of texts, each with its node."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        if isinstance(node, SequenceNode) and not items:
            raise self.fail(node, f"{what}: expected one name or a list of names, got an empty list")
        out = []
        for item in items:
            try:
                out.append((item, self.text(item, what)))
            except Skip:
                pass
        return out

    def attempt(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """fn(*args, **kwargs), or None when it recorded an error."""
        try:
            return fn(*args, **kwargs)
        except Skip:
            return None

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


def did_you_mean(word: str, choices: Any) -> str:
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
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def as_header_value(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value)
    return None

