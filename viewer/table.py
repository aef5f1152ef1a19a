"""The store's rows, kept in columns: what a viewer left on a site for days
holds per exchange.

A ``Row`` object per exchange costs several hundred bytes (the object, its
floats and ints, a string per lower-cased key).  ``Table`` keeps the same
facts as columns instead: numbers in ``array``s, and every text many rows
repeat (device, server, URL, operation, job token, fault, finding codes,
the lower-cased keys the filter reads) as a 4-byte code into one table of
shared strings.  What only this row has is its id and its search key; its
record stays on disk (a code for the file, an offset and a length), or in
memory when it has no place on disk (a request still pending, a session
without a spool).

``table[i]`` builds the ``Row`` the list and the detail show (a snapshot,
the same object while it is among the last few hundred asked for and the
row is not replaced); the filter reads ``views(upto)``,
light cursors whose attributes read the columns, so a filter over 100,000
rows allocates no rows.  Appending happens on the UI thread; a filter in a
worker thread reads a fixed prefix, as it did the list of rows.
"""

from __future__ import annotations

import contextlib
import math
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from dspscope.viewer.flowstore import Location, Records, StoredRecord
from dspscope.viewer.keys import Keys
from dspscope.viewer.row import Row

if TYPE_CHECKING:
    from dspscope.viewer.scan import Views

NONE = math.nan  # a float column's None
NO_STATUS = -1
REWRITTEN, PAUSED, PENDING = 1, 2, 4
FLAG_BITS = {"rewritten": REWRITTEN, "paused": PAUSED, "pending": PENDING}
IN_MEMORY = 0  # the record-owner code of a record held in memory
BUILT_ROWS = 512


class Strings:
    """Text -> a small code, once for all the rows that repeat it, with its
    lower-cased form beside it (the same object when already lower-case)."""

    __slots__ = ("texts", "lowers", "_codes")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.lowers: list[str] = []
        self._codes: dict[str, int] = {}
        self.code("")

    def code(self, text: str) -> int:
        found = self._codes.get(text)
        if found is None:
            found = self._codes[text] = len(self.texts)
            self.texts.append(text)
            lower = text.lower()
            self.lowers.append(text if lower == text else lower)
        return found

    def __len__(self) -> int:
        return len(self.texts)


class Table(Sequence[Row]):
    """Rows by index, in columns (see the module's docstring)."""

    def __init__(self) -> None:
        self.strings = Strings()
        self.ids: list[str] = []
        self.keys = Keys()
        self.time = array("d")
        self.latency = array("d")
        self.rule_delay = array("d")
        self.status = array("i")
        self.findings = array("I")
        self.attachments = array("I")
        self.flags = array("B")
        # Codes into ``strings``.
        self.device = array("I")
        self.server = array("I")
        self.method = array("I")
        self.url = array("I")
        self.protocol = array("I")
        self.kind = array("I")
        self.operation = array("I")
        self.job = array("I")
        self.fault = array("I")
        self.error = array("I")
        self.severity = array("I")  # the code of "" stands for None
        self.finding_codes = array("I")
        self.shared_key = array("I")
        # Rule names: a code into ``rule_sets`` (and their lower-cased key).
        self.rules = array("I")
        self.rule_sets: list[tuple[str, ...]] = [()]
        self.rule_keys: list[str] = [""]
        self._rule_codes: dict[tuple[str, ...], int] = {(): 0}
        # Where each record is: a code into ``owners`` (IN_MEMORY: in
        # ``held``, by row index), its offset and length there.
        self.record_owner = array("H")
        self.record_offset = array("q")
        self.record_length = array("q")
        # Where each flow is, the same way (IN_MEMORY: not on disk).
        self.flow_owner = array("H")
        self.flow_offset = array("q")
        self.flow_length = array("q")
        self.owners: list[Records | None] = [None]
        self._owner_codes: dict[int, int] = {}
        self.held: dict[int, Mapping[str, Any]] = {}
        self._built: dict[int, Row] = {}  # the last rows asked for, by index

    # ---------------------------------------------------------------- writing

    def append(self, row: Row, flow_at: Location | None = None) -> int:
        """Add ``row`` as the last row (``flow_at``: where its flow is); its index."""
        index = len(self.ids)
        self.ids.append(row.id)
        self.keys.append(row.key)
        for name in _NUMBERS:
            getattr(self, name).append(0)
        for name in _CODES:
            getattr(self, name).append(0)
        self.record_owner.append(IN_MEMORY)
        self.record_offset.append(0)
        self.record_length.append(0)
        self.flow_owner.append(IN_MEMORY)
        self.flow_offset.append(0)
        self.flow_length.append(0)
        self._write(index, row)
        if flow_at is not None:
            self._flow_at(index, flow_at)
        return index

    def replace(self, index: int, row: Row, flow_at: Location | None = None) -> None:
        """Put ``row`` in the place of row ``index`` (an exchange seen again;
        ``flow_at``: where its flow is now, None: where it was)."""
        if flow_at is not None:
            self._flow_at(index, flow_at)
        self.ids[index] = row.id
        self.keys.replace(index, row.key)
        self._write(index, row)
        self._built.pop(index, None)

    def _write(self, i: int, row: Row) -> None:
        code = self.strings.code
        self.time[i] = row.time
        self.latency[i] = _float(row.latency)
        self.rule_delay[i] = _float(row.rule_delay)
        status = row.status
        self.status[i] = status if type(status) is int and 0 <= status < 1 << 31 else NO_STATUS
        self.findings[i] = row.findings
        self.attachments[i] = row.attachments
        self.flags[i] = ((REWRITTEN if row.rewritten else 0) | (PAUSED if row.paused else 0)
                         | (PENDING if row.pending else 0))
        self.device[i] = code(row.device)
        self.server[i] = code(row.server)
        self.method[i] = code(row.method)
        self.url[i] = code(row.url)
        self.protocol[i] = code(row.protocol)
        self.kind[i] = code(row.kind)
        self.operation[i] = code(row.operation)
        self.job[i] = code(row.job)
        self.fault[i] = code(row.fault)
        self.error[i] = code(row.error)
        self.severity[i] = code(row.severity or "")
        self.finding_codes[i] = code(row.finding_codes)
        self.shared_key[i] = code(row.shared_key)
        rules = self._rule_codes.get(row.rules)
        if rules is None:
            rules = self._rule_codes[row.rules] = len(self.rule_sets)
            self.rule_sets.append(row.rules)
            self.rule_keys.append(row.rules_key)
        self.rules[i] = rules
        # A row done with keeps only where its record is, when it is somewhere.
        later = row.later if not row.pending else None
        if later is None and isinstance(row.record, StoredRecord):
            later = row.record.location
        if later is None:
            self.held[i] = row.record
            self.record_owner[i] = IN_MEMORY
            return
        self.held.pop(i, None)
        self.record_owner[i] = self._owner(later.records)
        self.record_offset[i] = later.offset
        self.record_length[i] = later.length

    def _flow_at(self, i: int, where: Location) -> None:
        self.flow_owner[i] = self._owner(where.records)
        self.flow_offset[i] = where.offset
        self.flow_length[i] = where.length

    def flow_location(self, i: int) -> Location | None:
        owner = self.flow_owner[i]
        records = self.owners[owner] if owner != IN_MEMORY else None
        return None if records is None else Location(records, self.flow_offset[i],
                                                     self.flow_length[i])

    def _owner(self, records: Records) -> int:
        found = self._owner_codes.get(id(records))
        if found is None or self.owners[found] is not records:
            found = self._owner_codes[id(records)] = len(self.owners)
            self.owners.append(records)
        return found

    # ---------------------------------------------------------------- reading

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("row index out of range")
        return self._row(index)

    def __iter__(self) -> Iterator[Row]:
        for i in range(len(self)):
            yield self._row(i)

    def _row(self, i: int) -> Row:
        built = self._built
        row = built.get(i)
        if row is None:
            row = built[i] = self._build(i)
            if len(built) > BUILT_ROWS:
                with contextlib.suppress(RuntimeError, StopIteration):  # another thread's turn
                    built.pop(next(iter(built)), None)
        return row

    def record(self, i: int) -> Mapping[str, Any]:
        owner = self.record_owner[i]
        if owner == IN_MEMORY:
            return self.held.get(i, {})
        records = self.owners[owner]
        assert records is not None
        return StoredRecord(records, self.record_offset[i], self.record_length[i])

    def _build(self, i: int) -> Row:
        texts = self.strings.texts
        lowers = self.strings.lowers
        latency = self.latency[i]
        delay = self.rule_delay[i]
        status = self.status[i]
        flags = self.flags[i]
        rules = self.rules[i]
        return Row(
            index=i, id=self.ids[i], time=self.time[i], device=texts[self.device[i]],
            server=texts[self.server[i]], method=texts[self.method[i]], url=texts[self.url[i]],
            status=None if status == NO_STATUS else status,
            latency=None if latency != latency else latency,  # NaN: none
            protocol=texts[self.protocol[i]], kind=texts[self.kind[i]],
            operation=texts[self.operation[i]], job=texts[self.job[i]],
            fault=texts[self.fault[i]], error=texts[self.error[i]],
            findings=self.findings[i], severity=texts[self.severity[i]] or None,
            rules=self.rule_sets[rules], attachments=self.attachments[i],
            rewritten=bool(flags & REWRITTEN),
            rule_delay=None if delay != delay else delay,
            paused=bool(flags & PAUSED), pending=bool(flags & PENDING),
            record=self.record(i), later=None,
            operation_key=lowers[self.operation[i]], url_key=lowers[self.url[i]],
            finding_codes=texts[self.finding_codes[i]], rules_key=self.rule_keys[rules],
            key=self.keys[i], shared_key=texts[self.shared_key[i]],
        )

    def pending(self, i: int) -> bool:
        return bool(self.flags[i] & PENDING)

    def views(self, upto: int | None = None) -> Views:
        """Rows [0, upto) as the filter reads them."""
        from dspscope.viewer.scan import Views

        return Views(self, len(self) if upto is None else upto)


def _float(value: object) -> float:
    """A number of a float column (None, or what is no number: NaN)."""
    return float(value) if type(value) is float or type(value) is int else NONE


_NUMBERS = ("time", "latency", "rule_delay", "status", "findings", "attachments", "flags")
_CODES = ("device", "server", "method", "url", "protocol", "kind", "operation", "job", "fault",
          "error", "severity", "finding_codes", "shared_key", "rules")
