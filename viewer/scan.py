"""A query over a table's columns (``viewer.table``): each word that tests
one attribute (``filters.tests_of``) is tested once per distinct value of a
column of shared strings (a device, an operation, a job token...) and the
rows are then picked by their codes; words that read more of a row (an
XPath, ``is:response``) test the survivors one ``RowView`` at a time: a
light cursor whose attributes read the columns.

The result is what ``Query.match`` row by row gives (tests/viewer proves
it on every field), at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, overload

from dspscope.viewer.filters import Contains, Documents, Predicate, negated_of, tests_of
from dspscope.viewer.table import FLAG_BITS, NO_STATUS, PAUSED, PENDING, REWRITTEN, Table

Rows = Sequence[int]


def select(table: Table, predicates: Sequence[Predicate], documents: Documents | None,
           start: int, upto: int) -> list[int]:
    """Indices in [start, upto) of the rows every predicate holds for."""
    rows: Rows = range(start, upto)
    rest = []
    for predicate in predicates:
        tests = tests_of(predicate)
        if tests is None:
            rest.append(predicate)
            continue
        found = _any(table, tests, rows)
        if negated_of(predicate):
            hit = set(found)
            rows = [i for i in rows if i not in hit]
        else:
            rows = found
    for predicate in rest:  # in their order: the slow ones (xpath) last
        rows = [i for i in rows if predicate(RowView(table, i), documents)]
    return list(rows)


def _any(table: Table, tests: Sequence[tuple[str, Callable[[Any], bool]]],
         rows: Rows) -> list[int]:
    """The rows for which any (attribute, test) holds, in order."""
    if len(tests) == 1:
        return _one(table, *tests[0], rows)
    hit: set[int] = set()
    # Shared strings first (a test per distinct value), then the rest over
    # the rows not found yet (keys over a whole range: chunks are skipped).
    for attribute, test in sorted(tests, key=lambda t: t[0] in ("key", "id")):
        whole = not hit or (attribute == "key" and isinstance(rows, range))
        hit.update(_one(table, attribute, test, rows if whole else [i for i in rows if i not in hit]))
    return sorted(hit)  # rows ascend


def _one(table: Table, attribute: str, test: Callable[[Any], bool], rows: Rows) -> list[int]:
    coded = _CODED.get(attribute)
    if coded is not None:
        name, lower = coded
        codes = getattr(table, name)
        values = table.strings.lowers if lower else table.strings.texts
        if attribute == "severity":
            wanted = {c for c in _distinct(codes, rows) if test(values[c] or None)}
        else:
            wanted = {c for c in _distinct(codes, rows) if test(values[c])}
        return [i for i in rows if codes[i] in wanted]
    if attribute in ("rules", "rules_key"):
        sets = table.rule_sets if attribute == "rules" else table.rule_keys
        codes = table.rules
        wanted = {c for c in _distinct(codes, rows) if test(sets[c])}
        return [i for i in rows if codes[i] in wanted]
    if attribute == "key":
        return table.keys.matching(test, rows)
    if attribute == "id":
        texts = table.ids
        if isinstance(test, Contains):
            needles = test.needles
            if len(needles) == 1:
                needle = needles[0]
                return [i for i in rows if needle in texts[i]]
            return [i for i in rows if any(n in texts[i] for n in needles)]
        return [i for i in rows if test(texts[i])]
    if attribute in ("findings", "attachments", "status"):
        numbers = getattr(table, attribute)
        none = NO_STATUS if attribute == "status" else None
        wanted = {n for n in _distinct(numbers, rows) if test(None if n == none else n)}
        return [i for i in rows if numbers[i] in wanted]
    if attribute in ("latency", "rule_delay"):
        floats = getattr(table, attribute)
        return [i for i in rows if test(None if (v := floats[i]) != v else v)]
    bit = FLAG_BITS.get(attribute)
    if bit is not None:
        flags = table.flags
        wanted = {f for f in _distinct(flags, rows) if test(bool(f & bit))}
        return [i for i in rows if flags[i] in wanted]
    raise KeyError(f"no column for {attribute!r}")


def _distinct(column: Any, rows: Rows) -> set[Any]:
    if isinstance(rows, range):
        return set(column[rows.start:rows.stop])
    return {column[i] for i in rows}


#: attribute -> (code column, lower-cased)
_CODED = {
    "device": ("device", False), "server": ("server", False), "method": ("method", False),
    "url": ("url", False), "url_key": ("url", True), "protocol": ("protocol", False),
    "kind": ("kind", False), "operation": ("operation", False),
    "operation_key": ("operation", True), "job": ("job", False), "fault": ("fault", False),
    "error": ("error", False), "severity": ("severity", False),
    "finding_codes": ("finding_codes", False), "shared_key": ("shared_key", False),
}


class Views(Sequence["RowView"]):
    """A fixed prefix of a table, one ``RowView`` per row asked for."""

    __slots__ = ("table", "upto")

    def __init__(self, table: Table, upto: int) -> None:
        self.table = table
        self.upto = upto

    def __len__(self) -> int:
        return self.upto

    @overload
    def __getitem__(self, index: int) -> RowView: ...

    @overload
    def __getitem__(self, index: slice) -> list[RowView]: ...

    def __getitem__(self, index: int | slice) -> RowView | list[RowView]:
        if isinstance(index, slice):
            return [RowView(self.table, i) for i in range(*index.indices(self.upto))]
        return RowView(self.table, index)

    def select(self, predicates: Sequence[Predicate], documents: Documents | None,
               start: int = 0) -> list[int]:
        """What ``Query.select`` gives, read from the columns."""
        return select(self.table, predicates, documents, start, self.upto)


class RowView:
    """What the filter language reads of row ``index``, read from the columns."""

    __slots__ = ("t", "index")

    def __init__(self, table: Table, index: int) -> None:
        self.t = table
        self.index = index

    @property
    def id(self) -> str:
        return self.t.ids[self.index]

    @property
    def key(self) -> str:
        return self.t.keys[self.index]

    @property
    def shared_key(self) -> str:
        t = self.t
        return t.strings.texts[t.shared_key[self.index]]

    @property
    def operation_key(self) -> str:
        t = self.t
        return t.strings.lowers[t.operation[self.index]]

    @property
    def url_key(self) -> str:
        t = self.t
        return t.strings.lowers[t.url[self.index]]

    @property
    def finding_codes(self) -> str:
        t = self.t
        return t.strings.texts[t.finding_codes[self.index]]

    @property
    def rules_key(self) -> str:
        t = self.t
        return t.rule_keys[t.rules[self.index]]

    @property
    def rules(self) -> tuple[str, ...]:
        t = self.t
        return t.rule_sets[t.rules[self.index]]

    @property
    def job(self) -> str:
        t = self.t
        return t.strings.texts[t.job[self.index]]

    @property
    def device(self) -> str:
        t = self.t
        return t.strings.texts[t.device[self.index]]

    @property
    def server(self) -> str:
        t = self.t
        return t.strings.texts[t.server[self.index]]

    @property
    def method(self) -> str:
        t = self.t
        return t.strings.texts[t.method[self.index]]

    @property
    def kind(self) -> str:
        t = self.t
        return t.strings.texts[t.kind[self.index]]

    @property
    def protocol(self) -> str:
        t = self.t
        return t.strings.texts[t.protocol[self.index]]

    @property
    def fault(self) -> str:
        t = self.t
        return t.strings.texts[t.fault[self.index]]

    @property
    def error(self) -> str:
        t = self.t
        return t.strings.texts[t.error[self.index]]

    @property
    def severity(self) -> str | None:
        t = self.t
        return t.strings.texts[t.severity[self.index]] or None

    @property
    def status(self) -> int | None:
        status = self.t.status[self.index]
        return None if status == NO_STATUS else status

    @property
    def latency(self) -> float | None:
        latency = self.t.latency[self.index]
        return None if latency != latency else latency

    @property
    def findings(self) -> int:
        return self.t.findings[self.index]

    @property
    def attachments(self) -> int:
        return self.t.attachments[self.index]

    @property
    def rewritten(self) -> bool:
        return bool(self.t.flags[self.index] & REWRITTEN)

    @property
    def paused(self) -> bool:
        return bool(self.t.flags[self.index] & PAUSED)

    @property
    def pending(self) -> bool:
        return bool(self.t.flags[self.index] & PENDING)

