from __future__ import annotations

import json
import os
import time

import pytest
from mitmproxy import exceptions
from mitmproxy import io as mitm_io
from mitmproxy.test import taddons, tflow

from dspscope.addons.capture import (
    JsonlCapture,
    RotatingFile,
    SaveCapture,
    parse_duration,
    parse_size,
    segments,
)
from tests.addons import support


def read_flows(path):
    with open(path, "rb") as fh:
        return list(mitm_io.FlowReader(fh).stream())


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600),
                                               ("1.5d", 129600), (" 2H ", 7200)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-1h", "1w", "h", "1h30m"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_size():
    assert parse_size("500k") == 500 * 1024
    with pytest.raises(ValueError):
        parse_size("lots")


async def test_each_exchange_is_flushed_as_it_completes(tmp_path):
    path = tmp_path / "c.mitm"
    save = SaveCapture()
    flows = support.job_flows(images=1)
    with taddons.context(save) as tctx:
        tctx.configure(save, dspscope_save=str(path))
        for n, f in enumerate(flows, 1):
            save.request(f)
            save.response(f)
            assert len(read_flows(path)) == n  # readable while still open
        save.done()
    got = read_flows(path)
    assert [f.id for f in got] == [f.id for f in flows]
    assert got[0].request.raw_content == flows[0].request.raw_content


async def test_flows_in_flight_at_shutdown_are_written_once(tmp_path):
    path = tmp_path / "c.mitm"
    save = SaveCapture()
    done, pending = tflow.tflow(resp=True), tflow.tflow()
    with taddons.context(save) as tctx:
        tctx.configure(save, dspscope_save=str(path))
        save.request(done)
        save.request(pending)
        save.response(done)
        save.error(done)
        save.done()
    assert sorted(f.id for f in read_flows(path)) == sorted([done.id, pending.id])


async def test_an_existing_capture_is_kept(tmp_path):
    path = tmp_path / "c.mitm"
    path.write_bytes(b"old")
    save = SaveCapture()
    with taddons.context(save) as tctx:
        tctx.configure(save, dspscope_save=str(path))
        save.done()
    old = segments(path)[:-1]
    assert len(old) == 1 and old[0].read_bytes() == b"old"


async def test_rotation_by_size_loses_nothing(tmp_path):
    path = tmp_path / "c.mitm"
    save = SaveCapture()
    flows = [tflow.tflow(resp=True) for _ in range(6)]
    with taddons.context(save) as tctx:
        tctx.configure(save, dspscope_save=str(path), dspscope_rotate_size="2k")
        for f in flows:
            save.response(f)
        save.done()
    files = segments(path)
    assert len(files) >= 3
    assert all(p.stat().st_size <= 2048 for p in files[:-1])
    assert [f.id for p in files for f in read_flows(p)] == [f.id for f in flows]


def test_rotation_by_time(tmp_path, monkeypatch):
    clock = [1_700_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    file = RotatingFile(tmp_path / "c.jsonl", max_age=60)
    file.write(b"a\n")
    clock[0] += 59
    file.write(b"b\n")
    clock[0] += 1
    file.write(b"c\n")
    file.close()
    files = segments(tmp_path / "c.jsonl")
    assert [p.read_bytes() for p in files] == [b"a\nb\n", b"c\n"]
    assert file.rotations == 1


def test_segments_order_same_second(tmp_path):
    for name in ("c-20240501-120000-1.mitm", "c-20240501-120000.mitm", "c-20240430-235959.mitm",
                 "c.mitm", "c-other.mitm"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in segments(tmp_path / "c.mitm")] == [
        "c-20240430-235959.mitm", "c-20240501-120000.mitm", "c-20240501-120000-1.mitm", "c.mitm"]


async def test_jsonl_one_whole_line_per_exchange(tmp_path):
    path = tmp_path / "c.jsonl"
    jsonl = JsonlCapture()
    flows = support.job_flows(images=2)
    with taddons.context(jsonl) as tctx:
        tctx.configure(jsonl, dspscope_jsonl=str(path))
        for f in flows:
            jsonl.response(f)
            assert path.read_bytes().endswith(b"\n")
        jsonl.done()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f.id for f in flows]


async def test_write_failures_never_raise(tmp_path, caplog):
    path = tmp_path / "c.mitm"
    save = SaveCapture()
    with taddons.context(save) as tctx:
        tctx.configure(save, dspscope_save=str(path))
        save.file._fh.close()
        save.response(tflow.tflow(resp=True))
        assert save.failures == 1
        save.file._fh = None
        save.done()
    assert "writing" in caplog.text


async def test_bad_options_are_options_errors(tmp_path):
    save = SaveCapture()
    with taddons.context(save) as tctx:
        with pytest.raises(exceptions.OptionsError, match="not a duration"):
            tctx.configure(save, dspscope_save=str(tmp_path / "c.mitm"), dspscope_rotate_time="soon")
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(exceptions.OptionsError, match="cannot write"):
            tctx.configure(save, dspscope_save=str(blocker / "c.mitm"))


async def test_both_writers_share_the_rotation_options(tmp_path):
    save, jsonl = SaveCapture(), JsonlCapture()
    with taddons.context(save, jsonl) as tctx:
        tctx.configure(save, dspscope_save=str(tmp_path / "a.mitm"), dspscope_rotate_size="1m")
        tctx.configure(jsonl, dspscope_jsonl=str(tmp_path / "a.jsonl"))
        assert save.file.max_bytes == jsonl.file.max_bytes == 1024 * 1024
        save.done()
        jsonl.done()
    assert os.path.exists(tmp_path / "a.jsonl")


def test_capture_record_pieces_are_the_tnetstring_of_the_flow():
    from mitmproxy.io import tnetstring
    from mitmproxy.test import tflow

    flow = tflow.tflow(resp=True)
    flow.request.content = bytes(range(256)) * 1000
    flow.metadata["dspscope"] = {"findings": [{"code": "x", "at": (1, 2.5)}], "ok": True}
    pieces = SaveCapture().record(flow)
    assert b"".join(pieces) == tnetstring.dumps(flow.get_state())
    assert any(piece is flow.request.raw_content for piece in pieces)  # the body, not a copy
    assert flow.metadata["dspscope"]["ok"] is True  # the flow keeps its metadata


async def test_large_records_are_written_by_a_worker_in_order(tmp_path):
    from dspscope.addons.capture import BACKGROUND_BYTES

    path = tmp_path / "c.mitm"
    save = SaveCapture()
    flows = support.job_flows(images=3)
    flows[1].request.content = b"\x00" * (BACKGROUND_BYTES + 1)  # a big scan, then small ones
    with taddons.context(save) as tctx:
        tctx.configure(save, dspscope_save=str(path))
        for f in flows:
            save.response(f)
        save.done()  # waits for the worker
    got = read_flows(path)
    assert [f.id for f in got] == [f.id for f in flows]
    assert got[1].request.raw_content == flows[1].request.raw_content
    assert save.written == len(flows) and save.failures == 0


async def test_a_large_record_is_the_flow_as_it_was_at_its_response(tmp_path):
    """The worker writes the record made on the event loop:
    what an addon changes in the flow afterwards is not in it."""
    import threading

    from dspscope.addons.capture import BACKGROUND_BYTES

    path = tmp_path / "c.mitm"
    save = SaveCapture()
    flow = support.job_flows(images=1)[1]
    flow.request.content = b"\x01" * (BACKGROUND_BYTES + 1)
    flow.metadata["note"] = {"seen": ["before"]}
    gate = threading.Event()
    with taddons.context(save) as tctx:
        tctx.configure(save, dspscope_save=str(path))
        original = save._put
        save._put = lambda *args: (gate.wait(10), original(*args))[1]
        save.response(flow)
        flow.metadata["note"]["seen"].append("after")
        flow.request.content = b"changed"
        flow.comment = "changed later"
        gate.set()
        save.done()
    (got,) = read_flows(path)
    assert got.request.raw_content == b"\x01" * (BACKGROUND_BYTES + 1)
    assert got.metadata["note"] == {"seen": ["before"]} and got.comment == ""
    assert save.written == 1 and save.failures == 0
