from __future__ import annotations

import io as _io
import os
from pathlib import Path

from mitmproxy import io

from dspscope.viewer.flowstore import Flows, Spool, decode, encode
from dspscope.viewer.inbox import Inbox
from dspscope.viewer.session import Session, entry
from dspscope.viewer.sources import CaptureSource
from tests.helpers import eventually
from tests.viewer.factory import sample


def written(flows: list, path: Path) -> Path:  # type: ignore[type-arg]
    with open(path, "wb") as fh:
        writer = io.FlowWriter(fh)
        for flow in flows:
            writer.add(flow)
    return path


def test_a_record_is_what_flowwriter_writes() -> None:
    flow = sample(1).flows[1]
    out = _io.BytesIO()
    io.FlowWriter(out).add(flow)
    assert encode(flow) == out.getvalue()
    again = decode(encode(flow))
    assert again is not None and again.id == flow.id
    assert again.request.content == flow.request.content


def test_spool_keeps_flows_out_of_memory_and_reads_them_back() -> None:
    flows = sample(2).flows
    spool = Spool()
    store = Flows(cache_size=3)
    for flow in flows:
        store.put(flow, spool.append(flow))
    assert len(store) == len(flows) and len(store._recent) == 3  # noqa: SLF001
    first = store.get(flows[0].id)
    assert first is not None and first is not flows[0]
    assert first.request.content == flows[0].request.content
    assert first.metadata["dspscope"]["operation"] == "CreatePostScanJob"
    assert store.get(flows[0].id) is first  # now cached
    assert store.record(flows[1].id) == encode(flows[1])
    assert os.fstat(spool.fd).st_mode & 0o777 == 0o600
    spool.close()
    assert store.get(flows[2].id) is None  # the session is over


def test_flows_without_a_place_are_held_until_they_get_one() -> None:
    flow = sample(1).flows[0]
    store = Flows(cache_size=1)
    store.put(flow, None)
    assert store.get(flow.id) is flow and flow.id in store
    spool = Spool()
    store.put(flow, spool.append(flow))
    assert store.held == {} and store.get(flow.id) is flow


def load(paths: list[Path], want: int) -> Session:
    inbox, session = Inbox(), Session()
    source = CaptureSource(paths)
    source.start(inbox)

    def loaded() -> bool:
        for batch in inbox.take().batches:
            session.add_batch(batch)
        return len(session.store) >= want and not source._thread.is_alive()  # type: ignore[union-attr]  # noqa: SLF001

    eventually(loaded, 30, f"{want} flows read and the reader done")
    return session


def test_a_capture_is_read_back_from_the_file_by_record(tmp_path: Path) -> None:
    flows = sample().flows
    path = written(flows, tmp_path / "a.mitm")
    session = load([path], len(flows))
    session.flows._recent.clear()  # noqa: SLF001 - force reading from the file
    for original in (flows[0], flows[7], flows[-1]):
        again = session.flows.get(original.id)
        assert again is not None and again.request.content == original.request.content
    copy = session.save(tmp_path / "copy.mitm")
    assert copy == len(flows)
    assert (tmp_path / "copy.mitm").read_bytes() == path.read_bytes()


def test_a_torn_capture_keeps_every_whole_record(tmp_path: Path) -> None:
    flows = sample(2).flows
    path = written(flows, tmp_path / "torn.mitm")
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # a proxy killed mid-write
    session = load([path], len(flows) - 1)
    assert len(session.store) == len(flows) - 1
    last = session.store.rows[-1]
    session.flows._recent.clear()  # noqa: SLF001
    assert session.flow(last) is not None


def test_live_entries_carry_their_spool_place() -> None:
    flow = sample(1).flows[2]
    spool = Spool()
    made = entry(flow, location=spool.append(flow))
    assert made[2] is not None and made[2].read() == encode(flow)
