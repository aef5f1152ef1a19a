from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from dspscope.addons.metadata import message_of
from dspscope.viewer.session import Session, prepare
from dspscope.viewer.store import Store
from dspscope.wsdsp.jobs import JobState
from tests.helpers import eventually
from tests.viewer.factory import sample


def loaded() -> Session:
    session = Session()
    session.add_batch(prepare(sample().flows))
    return session


def test_rows_show_what_the_proxy_recorded() -> None:
    store = loaded().store
    assert len(store) == 25
    first = store.rows[0]
    assert (first.operation, first.kind, first.status, first.device, first.latency) == (
        "CreatePostScanJob", "exchange", 200, "10.0.0.5", 38.0)
    fault = store.rows[7]
    assert (fault.operation, fault.status, fault.fault, fault.rules) == (
        "SendImage", 500, "ServerErrorTemporaryError", ("busy-server",))
    event = store.rows[4]
    assert (event.kind, event.device, event.status) == ("event", "10.0.0.5", 202)
    assert store.rows[1].attachments == 1


def test_jobs_follow_the_tracker() -> None:
    store = loaded().store
    jobs = store.jobs()
    assert len(jobs) == 4
    busy = jobs[1]
    assert busy.state is JobState.FINISHED and busy.outcome == "Completed"
    assert busy.images == 2 and busy.faults == ("SendImage: ServerErrorTemporaryError",)
    steps = [row.operation for row in store.rows_of(busy)]
    assert steps == ["CreatePostScanJob", "SendImage", "SendImage", "SendImage", "EndPostScanJob",
                     "PostScanJobStatusEvent", "PostScanJobEndStateEvent"]
    assert store.job_of(store.rows[7]) is busy


def test_filter_view_follows_appends_and_updates() -> None:
    session = Session()
    flows = sample().flows
    session.add_batch(prepare(flows[:10]))
    store = session.store
    store.apply("op:send")
    assert [store.rows[i].operation for i in store.view] == ["SendImage"] * 5
    session.add_batch(prepare(flows[10:]))
    assert len(store.view) == 9
    # A row seen again (a paused flow that completed) is replaced in place.
    pending = dict(store.rows[1].record, status=None, operation="EndPostScanJob")
    store.add(pending, pending=True)
    assert store.rows[1].pending and 1 not in store.view
    store.add(store.rows[2].record | {"id": store.rows[1].id})
    assert 1 in store.view and len(store) == 25


def test_pending_rows_do_not_count_for_jobs_until_done() -> None:
    session = loaded()
    store = Store()
    create = session.store.rows[0].record
    store.add(create, pending=True)
    assert store.jobs() == []
    store.add(create)
    assert len(store.jobs()) == 1


def test_message_of_rebuilds_what_the_tracker_needs() -> None:
    record = loaded().store.rows[7].record
    response = message_of(record["response"])
    assert response is not None and response.kind == "fault"
    assert response.fault is not None and response.fault.subcode == "ServerErrorTemporaryError"
    assert message_of(None) is None


def synthetic(n: int) -> dict[str, Any]:
    operations = ("CreatePostScanJob", "SendImage", "SendImage", "EndPostScanJob")
    return {
        "id": f"id-{n}", "time": 1_700_000_000 + n / 1000, "client": f"10.0.{n % 50}.{n % 200}:5000",
        "server": "scan.test:5362", "method": "POST", "url": "https://scan.test:5362/ScanServer/x",
        "status": 500 if n % 97 == 0 else 200, "duration_ms": float(n % 300),
        "protocol": "ws-dsp", "kind": "exchange", "operation": operations[n % 4],
        "job_token": f"{n // 4:08x}-0000-4000-8000-000000000000",
        "request": {"fields": {"X": {"UserIdentifier": f"S-1-5-21-{n % 7}"}}},
        "response": None, "findings": [], "rules": [], "error": None,
    }


@pytest.mark.slow
def test_store_holds_and_filters_100k_rows() -> None:
    store = Store()
    for n in range(100_000):
        store.add(synthetic(n))
    assert len(store) == 100_000 and len(store.view) == 100_000
    query = store.apply("op:send status:>=400")
    expected = sum(1 for n in range(100_000) if n % 97 == 0 and n % 4 in (1, 2))
    assert len(store.view) == expected
    assert all(store.rows[i].operation == "SendImage" for i in store.view)
    # A filter computed on a prefix (in a thread) catches up with later rows.
    upto = len(store)
    indices = store.filter(query, upto)
    for n in range(100_000, 100_400):
        store.add(synthetic(n))
    store.set_view(query, indices, upto)
    assert len(store.view) == expected + sum(
        1 for n in range(100_000, 100_400) if n % 97 == 0 and n % 4 in (1, 2))
    store.apply("s-1-5-21-3 device:10.0.7.")
    assert store.view == [
        i for i in range(100_400) if i % 7 == 3 and (i % 50 == 7)
        and f"10.0.{i % 50}.{i % 200}".startswith("10.0.7.")]


def test_headless_core_imports_no_textual() -> None:
    code = ("import json, sys, viewer.store, viewer.filters, viewer.session, viewer.inbox, "
            "viewer.sources, viewer.live, viewer.safe, viewer.xmltext, viewer.detail_text, "
            "viewer.preview; print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert [m for m in json.loads(out.stdout) if m.split(".")[0] == "textual"] == []


def test_a_stock_capture_is_decoded_and_followed_as_it_loads(tmp_path: Any) -> None:
    """A capture written by stock mitmproxy has no dspscope metadata: rows
    and jobs are computed while it loads."""

    from mitmproxy import io

    from dspscope.viewer.inbox import Inbox
    from dspscope.viewer.sources import CaptureSource

    path = tmp_path / "stock.mitm"
    with open(path, "wb") as fh:
        writer = io.FlowWriter(fh)
        for flow in sample().flows:
            flow.metadata.clear()
            writer.add(flow)
    inbox, session = Inbox(), Session()
    source = CaptureSource([path])
    source.start(inbox)

    def pumped() -> bool:
        for batch in inbox.take().batches:
            session.add_batch(batch)
        return len(session.store) >= 25

    eventually(pumped, 30, "the stock capture's 25 flows in the store")
    source.stop()
    store = session.store
    assert [r.operation for r in store.rows[:6]] == [
        "CreatePostScanJob", "SendImage", "SendImage", "EndPostScanJob",
        "PostScanJobStatusEvent", "PostScanJobEndStateEvent"]
    assert store.rows[7].fault == "ServerErrorTemporaryError" and store.rows[7].rules == ()
    assert len(store.jobs()) == 4
    assert all(job.outcome == "Completed" for job in store.jobs())


def test_xpath_filters_read_the_flows_bodies() -> None:
    store = loaded().store
    store.apply('xpath:"//dsp:DocumentId[. = 2]"')
    assert [(r.operation, r.short_job) for r in (store.rows[i] for i in store.view)] == [
        ("SendImage", job.short_token) for job in store.jobs()]
    store.apply("xpath://soap:Fault op:send")
    assert [store.rows[i].fault for i in store.view] == ["ServerErrorTemporaryError"]


def _load_capture(path: Any, count: int) -> Session:
    """A session with the first ``count`` exchanges of a capture loaded."""
    from dspscope.viewer.inbox import Inbox
    from dspscope.viewer.sources import CaptureSource

    inbox, session = Inbox(), Session()
    source = CaptureSource([path])
    source.start(inbox)

    def pumped() -> bool:
        for batch in inbox.take().batches:
            session.add_batch(batch)
        return len(session.store) >= count

    eventually(pumped, 30, f"{count} exchanges of the capture in the store")
    assert source._thread is not None  # noqa: SLF001
    source._thread.join(30)  # noqa: SLF001 - the index is written when the read ends
    return session


def test_the_first_open_writes_the_index_the_next_opens_read(tmp_path: Any) -> None:
    """Rows, records, jobs and flows are the same from the index as from
    the capture; rows from the index keep only where their record is."""
    from mitmproxy import io

    from dspscope.addons.index import index_path
    from dspscope.viewer.flowstore import StoredRecord

    path = tmp_path / "stock.mitm"
    flows = sample().flows
    with open(path, "wb") as fh:
        writer = io.FlowWriter(fh)
        for flow in flows:
            flow.metadata.clear()
            writer.add(flow)
    first = _load_capture(path, len(flows))
    assert index_path(path).exists()
    second = _load_capture(path, len(flows))
    assert len(second.store) == len(first.store) == len(flows)

    def plain(row: Any) -> dict[str, Any]:
        fields = {name: getattr(row, name) for name in row.__slots__}
        fields["record"] = dict(row.record)
        fields.pop("later")
        return fields

    assert [plain(r) for r in second.store.rows] == [plain(r) for r in first.store.rows]
    assert all(isinstance(r.record, StoredRecord) for r in second.store.rows)
    assert [j.summary() for j in second.store.jobs()] == [j.summary() for j in first.store.jobs()]
    row = second.store.rows[1]
    flow = second.flow(row)
    assert flow is not None and flow.id == row.id
    assert flow.request.raw_content == flows[1].request.raw_content
