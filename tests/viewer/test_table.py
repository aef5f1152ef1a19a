"""The store's rows in columns (viewer.table) and the filter over them
(viewer.scan): what goes in comes out, and a query picks the same rows
from the columns as row by row."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dspscope.viewer.filters import parse
from dspscope.viewer.flowstore import Flows, Location, Spool, StoredRecord
from dspscope.viewer.row import Row
from dspscope.viewer.session import Session, prepare
from dspscope.viewer.store import Store, row_of
from dspscope.viewer.table import Table
from tests.viewer.factory import sample
from tests.viewer.test_filters import CASES, ROWS, record


def fields(row: Row) -> dict[str, Any]:
    """A row's facts, but where it is and its record (kept apart)."""
    out = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    for name in ("index", "record", "later"):
        out.pop(name)
    return out


def test_rows_come_out_as_they_went_in() -> None:
    table = Table()
    for row in ROWS:
        table.append(row)
    assert len(table) == len(ROWS)
    assert [fields(r) for r in table] == [fields(r) for r in ROWS]
    assert [r.index for r in table] == list(range(len(ROWS)))
    assert table[-1].id == "f5" and [r.id for r in table[1:3]] == ["f2", "f3"]
    broken = table[4]  # none of its numbers known
    assert (broken.status, broken.latency, broken.severity, broken.operation) == (None, None, None, "")
    assert table[1].rules == ("busy-on-image",) and table[3].severity == "error"
    assert dict(table[0].record) == record()  # no place on disk: kept in memory
    with pytest.raises(IndexError):
        table[5]


def test_shared_text_is_kept_once() -> None:
    table = Table()
    for i in range(100):
        table.append(row_of(record(id=f"x{i}"), -1))
    assert len(table.strings) < 20  # device, server, URL, operation... once each
    assert table[3].url is table[97].url


def test_a_row_seen_again_is_replaced_in_place() -> None:
    table = Table()
    table.append(row_of(record(id="a"), -1))
    pending = row_of(record(id="b", status=None, duration_ms=None), -1, pending=True)
    table.append(pending)
    before = table[1]
    assert before.pending and before.status is None and table[1] is before
    table.replace(1, row_of(record(id="b", status=500, duration_ms=20.0), -1, rewritten=True))
    after = table[1]
    assert after is not before
    assert (after.pending, after.status, after.latency, after.rewritten) == (False, 500, 20.0, True)
    assert table[0].id == "a" and len(table) == 2


def test_a_row_done_with_keeps_only_where_its_record_is() -> None:
    spool = Spool()
    try:
        place = spool.append_bytes(b'{"id": "c", "operation": "SendImage"}')
        table = Table()
        row = row_of(record(id="c"), -1)
        row.later = place
        table.append(row)
        assert table.held == {}
        kept = table[0].record
        assert isinstance(kept, StoredRecord) and kept["operation"] == "SendImage"
        pending = row_of(record(id="d"), -1, pending=True)
        pending.later = place
        table.append(pending)  # a request still waiting keeps its record
        assert table[1].record == pending.record
    finally:
        spool.close()


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_columns_select_what_rows_select(query: str, expected: list[str]) -> None:
    table = Table()
    for row in ROWS:
        table.append(row)
    picked = parse(query).select(table.views())
    assert [table[i].id for i in picked] == expected
    assert parse(query).select(table.views(), start=2) == [i for i in picked if i >= 2]


def test_xpath_reads_the_documents_of_what_the_columns_kept() -> None:
    table = Table()
    for row in ROWS:
        table.append(row)
    asked: list[str] = []

    def documents(row: Any) -> list[Any]:
        asked.append(row.id)
        return []

    assert parse("xpath://x op:send").select(table.views(), documents) == []
    assert asked == ["f1", "f2"]


def test_the_store_filters_from_the_columns() -> None:
    session = Session()
    session.add_batch(prepare(sample().flows))
    store = session.store
    for text in ("op:send", "-kind:event status:2xx", "busy", "has:rules,findings"):
        query = parse(text)
        assert store.filter(query) == [r.index for r in store.rows if query.match(r)]


def test_flow_locations_round_trip() -> None:
    class Big:
        def read(self, offset: int, length: int) -> bytes:
            return f"{offset}:{length}".encode()

    flows = Flows()
    far = Big()
    flows.put_location("a", Location(far, 5 << 40, (1 << 39) + 3))
    flows.put_location("b", Location(far, 0, 0))
    assert flows.record("a") == f"{5 << 40}:{(1 << 39) + 3}".encode()
    assert flows.record("b") == b"0:0" and "a" in flows and len(flows) == 2


def test_a_store_row_is_built_again_from_the_columns() -> None:
    store = Store()
    row = store.add(record(id="z", rules=[{"name": "slow"}]))
    assert row.index == 0 and store.row("z") == store.rows[0]
    assert fields(store.rows[0]) == fields(row)


def test_keys_packed_in_chunks_read_and_match_as_strings() -> None:
    from dspscope.viewer.filters import Contains
    from dspscope.viewer.keys import CHUNK, Keys

    texts = [f"200 row{i} {'rare' if i in (5, CHUNK + 7) else 'common'}" for i in range(2 * CHUNK + 10)]
    texts[3] = "has a \0 nul"  # captured text: kept as it is
    keys = Keys()
    for text in texts:
        keys.append(text)
    keys.replace(CHUNK + 1, "replaced rare")
    texts[CHUNK + 1] = "replaced rare"
    assert len(keys) == len(texts)
    assert [keys[i] for i in range(len(texts))] == texts
    everything = range(len(texts))
    for needles in (["rare"], ["row1", "nul"], ["\0"], ["common"], ["absent"]):
        test = Contains(needles)
        assert keys.matching(test, everything) == [i for i in everything if test(texts[i])]
        some = [1, 5, CHUNK + 1, CHUNK + 7, 2 * CHUNK + 3]
        assert keys.matching(test, some) == [i for i in some if test(texts[i])]
    assert keys.matching(lambda text: text.endswith("9 common"), range(20)) == [9, 19]


def test_keys_match_over_any_range_of_rows() -> None:
    from dspscope.viewer.filters import Contains
    from dspscope.viewer.keys import CHUNK, Keys

    texts = [f"k{i} {'odd' if i % 997 == 1 else 'x'}" for i in range(3 * CHUNK + 5)]
    keys = Keys()
    for text in texts:
        keys.append(text)
    test = Contains(["odd"])
    for start, stop in ((0, len(texts)), (CHUNK - 1, 2 * CHUNK + 1), (3 * CHUNK, len(texts)),
                        (5, 5), (2 * CHUNK + 3, 3 * CHUNK + 2)):
        rows = range(start, stop)
        assert keys.matching(test, rows) == [i for i in rows if test(texts[i])]
