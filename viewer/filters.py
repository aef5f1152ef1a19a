"""The filter language of the viewer's filter bar (and of intercept).

A query is words separated by spaces; a row must match every word::

    op:SendImage job:264a status:>=400 fault device:10.0.0.5 has:findings rule:busy scanner

==================  =====================================================
``op:NAME``         operation contains NAME (``op:send`` finds SendImage)
``job:PREFIX``      job token starts with PREFIX (braces/urn:uuid: ignored)
``device:TEXT``     device (client address) contains TEXT
``server:TEXT``     server host:port contains TEXT; ``url:TEXT`` the URL
``status:N``        HTTP status: ``404``, ``>=400``, ``<300``, ``!=200``,
                    ``5xx``, ``none`` (no response)
``latency:>MS``     latency in milliseconds, same comparisons
``kind:K``          ``exchange`` or ``event``
``proto:P``         protocol: ws-dsp, ws-eventing, ws-transfer, soap, ...
``method:M``        HTTP method
``severity:S``      has a finding of severity S or worse (error, warning, info)
``finding:CODE``    has a finding whose code contains CODE
``rule:NAME``       a rule whose name contains NAME acted on it
``has:WHAT``        findings, rules, fault, error, attachments, job, rewritten
``is:WHAT``         fault, error, event, paused, pending, rewritten; request
                    or response (intercept: pause only requests, or only
                    the server's answers)
``xpath:EXPR``      the request or response XML matches the XPath
                    (prefixes: soap, wsa, dsp, psp, wse, ...); slow on
                    large captures, so it runs in the background
``text:WORDS``      free text (also any word without a field)
==================  =====================================================

``fault``, ``error``, ``paused`` and ``findings`` alone are shorthands for
``is:fault``, ``is:error``, ``is:paused`` and ``has:findings``.  Any word
can be negated with a leading ``-`` or ``!``; a comma gives alternatives
(``op:SendImage,EndPostScanJob``); double quotes keep spaces
(``text:"scan user"``).  Free text is matched case-insensitively against
the row's search key: id, device, server, URL, operation, job token,
status, fault, error, rule names, finding codes and the message's values.

Parsing is pure and raises ``FilterError`` (with the offending position);
matching only reads attributes of the rows it is given.  A word that tests
one attribute says so (``Tests``), so that a table kept in columns can test
each distinct value once instead of each row (``viewer.scan``).  The
module runs a little over 400 lines because the table above is the
language's reference, kept beside the parser it describes.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lxml import etree

from dspscope.wsdsp.names import PREFIXES

SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


class Row(Protocol):
    """What a filter reads of a row (viewer.store.Row has all of it)."""

    operation_key: str
    job: str
    device: str
    server: str
    url_key: str
    status: int | None
    latency: float | None
    kind: str
    protocol: str
    method: str
    severity: str | None
    findings: int
    finding_codes: str
    rules: tuple[str, ...]
    rules_key: str
    fault: str
    error: str
    attachments: int
    rewritten: bool
    paused: bool
    pending: bool
    key: str
    shared_key: str
    id: str


Documents = Callable[[Any], Iterable[Any]]
Predicate = Callable[[Any, Documents | None], bool]
#: What a word tests, when each test reads one attribute of the row: the
#: word matches if any (attribute, test of its value) holds.
Tests = tuple[tuple[str, Callable[[Any], bool]], ...]


def tests_of(predicate: Predicate) -> Tests | None:
    """The attribute tests of ``predicate`` (None: it reads more than that)."""
    found: Tests | None = getattr(predicate, "tests", None)
    return found


def negated_of(predicate: Predicate) -> bool:
    return bool(getattr(predicate, "negated", False))


class Contains:
    """The test "has any of these (lower-case) texts in it" (a column scan
    runs it inline)."""

    __slots__ = ("needles",)

    def __init__(self, needles: Sequence[str]) -> None:
        self.needles = tuple(needles)

    def __call__(self, text: str) -> bool:
        return any(n in text for n in self.needles)


def _testing(predicate: Predicate, *tests: tuple[str, Callable[[Any], bool]]) -> Predicate:
    predicate.tests = tests  # type: ignore[attr-defined]
    return predicate


class FilterError(ValueError):
    """A query that cannot be parsed; ``position`` is the offending word's offset."""

    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: ``match(row)`` is the AND of its words."""

    text: str
    predicates: tuple[Predicate, ...] = ()
    needs_documents: bool = False

    @property
    def empty(self) -> bool:
        return not self.predicates

    def match(self, row: Any, documents: Documents | None = None) -> bool:
        for predicate in self.predicates:
            if not predicate(row, documents):
                return False
        return True

    def select(self, rows: Sequence[Any], documents: Documents | None = None,
               start: int = 0) -> list[int]:
        """Indices (from ``start``) of the rows that match (``rows`` may
        select itself: a table kept in columns)."""
        own = getattr(rows, "select", None)
        if own is not None:
            found: list[int] = own(self.predicates, documents, start)
            return found
        if not self.predicates:
            return list(range(start, len(rows)))
        if len(self.predicates) == 1 and not self.needs_documents:
            only = self.predicates[0]
            return [i for i in range(start, len(rows)) if only(rows[i], None)]
        match = self.match
        return [i for i in range(start, len(rows)) if match(rows[i], documents)]


_TOKEN = re.compile(r'\S*?"[^"]*"\S*|\S+')
_COMPARE = re.compile(r"(>=|<=|!=|>|<|=)?\s*(\d+(?:\.\d+)?)")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, ">": operator.gt,
    "<": operator.lt, "=": operator.eq,
}
SHORTHANDS = {"fault": "is:fault", "error": "is:error", "paused": "is:paused",
              "findings": "has:findings"}


def parse(text: str) -> Query:
    """Parse a query; an empty or blank text matches everything."""
    predicates: list[Predicate] = []
    needs_documents = False
    for found in _TOKEN.finditer(text):
        word, position = found.group(), found.start()
        negate = word[:1] in "-!" and len(word) > 1
        if negate:
            word = word[1:]
        word = SHORTHANDS.get(word.lower(), word)
        name, sep, value = word.partition(":")
        if not sep or not name.isalpha():
            name, value = "text", word
        name = _ALIASES.get(name.lower(), name.lower())
        value = _unquote(value, keep_inner=name == "xpath")
        builder = _FIELDS.get(name)
        if builder is None:
            raise FilterError(f"unknown field {name}: (fields: {', '.join(sorted(_FIELDS))})", position)
        if not value:
            raise FilterError(f"{name}: needs a value", position)
        try:
            predicate = builder(value)
        except FilterError as exc:
            raise FilterError(str(exc), position) from None
        needs_documents = needs_documents or name == "xpath"
        predicates.append(_negated(predicate) if negate else predicate)
    # Cheap tests first: xpath last, so it only sees rows the rest kept.
    predicates.sort(key=lambda p: getattr(p, "slow", False))
    return Query(text, tuple(predicates), needs_documents)


def _unquote(value: str, *, keep_inner: bool) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value if keep_inner else value.replace('"', "")


def _negated(predicate: Predicate) -> Predicate:
    def negated(row: Any, documents: Documents | None) -> bool:
        return not predicate(row, documents)

    negated.slow = getattr(predicate, "slow", False)  # type: ignore[attr-defined]
    negated.negated = True  # type: ignore[attr-defined]
    negated.tests = tests_of(predicate)  # type: ignore[attr-defined]
    return negated


def _alternatives(value: str) -> list[str]:
    return [v for v in (part.strip().lower() for part in value.split(",")) if v]


def _contains(attribute: str) -> Callable[[str], Predicate]:
    def build(value: str) -> Predicate:
        needles = _alternatives(value)
        getter = operator.attrgetter(attribute)
        if len(needles) == 1:
            needle = needles[0]
            return _testing(lambda row, _docs: needle in getter(row), (attribute, Contains(needles)))
        return _testing(lambda row, _docs: any(n in getter(row) for n in needles),
                        (attribute, Contains(needles)))

    return build


def _text(value: str) -> Predicate:
    """Free text: in what the row alone has, or in what it shares with others."""
    needles = _alternatives(value)
    contains = Contains(needles)
    return _testing(lambda row, _docs: any(n in row.key or n in row.shared_key or n in row.id
                                           or n in row.job.lower() for n in needles),
                    ("key", contains), ("shared_key", contains), ("id", contains),
                    ("job", lambda job: contains(job.lower())))


def _job(value: str) -> Predicate:
    prefixes = []
    for part in _alternatives(value):
        for strip in ("urn:uuid:", "uuid:", "{"):
            if part.startswith(strip):
                part = part[len(strip):]
        prefixes.append(part.rstrip("}"))
    start = tuple(prefixes)
    return _testing(lambda row, _docs: bool(row.job) and row.job.startswith(start),
                    ("job", lambda job: bool(job) and job.startswith(start)))


def _number(attribute: str, unit: str) -> Callable[[str], Predicate]:
    def build(value: str) -> Predicate:
        tests = [_number_test(part, unit) for part in _alternatives(value)]
        getter = operator.attrgetter(attribute)
        if len(tests) == 1:
            only = tests[0]
            return _testing(lambda row, _docs: only(getter(row)), (attribute, only))
        return _testing(lambda row, _docs: any(t(getter(row)) for t in tests),
                        (attribute, lambda got: any(t(got) for t in tests)))

    return build


def _number_test(text: str, unit: str) -> Callable[[float | None], bool]:
    if text == "none":
        return lambda got: got is None
    if unit == "status" and re.fullmatch(r"[1-5]xx", text):
        low = int(text[0]) * 100
        return lambda got: got is not None and low <= got < low + 100
    match = _COMPARE.fullmatch(text)
    if match is None:
        hint = "e.g. 404, >=400, 5xx or none" if unit == "status" else "e.g. >500 (milliseconds)"
        raise FilterError(f"{unit}: wants a number or a comparison ({hint}), not {text!r}")
    compare = _OPS[match.group(1) or "="]
    number = float(match.group(2))
    return lambda got: got is not None and compare(got, number)


def _exact(attribute: str) -> Callable[[str], Predicate]:
    def build(value: str) -> Predicate:
        wanted = frozenset(_alternatives(value))
        getter = operator.attrgetter(attribute)
        return _testing(lambda row, _docs: getter(row).lower() in wanted,
                        (attribute, lambda got: got.lower() in wanted))

    return build


def _severity(value: str) -> Predicate:
    ranks = []
    for part in _alternatives(value):
        if part not in SEVERITY_RANK:
            raise FilterError(f"severity: is error, warning or info, not {part!r}")
        ranks.append(SEVERITY_RANK[part])
    worst_allowed = max(ranks)
    return _testing(lambda row, _docs: (row.severity is not None
                                        and SEVERITY_RANK[row.severity] <= worst_allowed),
                    ("severity", lambda got: got is not None
                     and SEVERITY_RANK[got] <= worst_allowed))


#: has:/is: words, each a test of one attribute (but ``response``).
_FLAG_TESTS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "findings": ("findings", lambda got: got > 0),
    "rules": ("rules", bool),
    "rule": ("rules", bool),
    "fault": ("fault", bool),
    "error": ("error", bool),
    "attachments": ("attachments", lambda got: got > 0),
    "attachment": ("attachments", lambda got: got > 0),
    "job": ("job", bool),
    "rewritten": ("rewritten", bool),
    "event": ("kind", lambda got: got == "event"),
    "paused": ("paused", bool),
    "pending": ("pending", bool),
    # intercept: a request waits for its answer, a response has come
    "request": ("pending", bool),
}


def _reads(attribute: str, test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda row: test(getattr(row, attribute))


_FLAGS: dict[str, Callable[[Any], bool]] = {
    **{name: _reads(*tested) for name, tested in _FLAG_TESTS.items()},
    "response": lambda row: not row.pending and row.status is not None,
}
HAS = ("findings", "rules", "fault", "error", "attachments", "job", "rewritten")
IS = ("fault", "error", "event", "paused", "pending", "rewritten", "request", "response")


def _flag(field: str, allowed: tuple[str, ...]) -> Callable[[str], Predicate]:
    def build(value: str) -> Predicate:
        tests = []
        names = []
        for part in _alternatives(value):
            if part not in allowed and part.rstrip("s") not in allowed:
                raise FilterError(f"{field}: is one of {', '.join(allowed)}, not {part!r}")
            names.append(part if part in _FLAGS else part.rstrip("s"))
            tests.append(_FLAGS[names[-1]])

        def predicate(row: Any, _docs: Documents | None) -> bool:
            return any(t(row) for t in tests)

        if all(name in _FLAG_TESTS for name in names):
            return _testing(predicate, *(_FLAG_TESTS[name] for name in names))
        return predicate

    return build


def _xpath(value: str) -> Predicate:
    try:
        compiled = etree.XPath(value, namespaces=PREFIXES)
    except etree.XPathError as exc:
        raise FilterError(f"xpath: {exc}") from None

    def predicate(row: Any, documents: Documents | None) -> bool:
        if documents is None:
            return False
        for root in documents(row):
            try:
                result = compiled(root)
            except etree.XPathError:
                return False
            if result is True or (isinstance(result, list) and result):
                return True
            if isinstance(result, float | str) and result:
                return True
        return False

    predicate.slow = True  # type: ignore[attr-defined]
    return predicate


_FIELDS: dict[str, Callable[[str], Predicate]] = {
    "op": _contains("operation_key"),
    "job": _job,
    "device": _contains("device"),
    "server": _contains("server"),
    "url": _contains("url_key"),
    "status": _number("status", "status"),
    "latency": _number("latency", "latency"),
    "kind": _exact("kind"),
    "proto": _contains("protocol"),
    "method": _exact("method"),
    "severity": _severity,
    "finding": _contains("finding_codes"),
    "rule": _contains("rules_key"),
    "has": _flag("has", HAS),
    "is": _flag("is", IS),
    "xpath": _xpath,
    "text": _text,
}
_ALIASES = {"operation": "op", "token": "job", "client": "device", "host": "server",
            "ms": "latency", "protocol": "proto", "sev": "severity", "code": "finding"}
FIELDS = tuple(sorted(_FIELDS))
