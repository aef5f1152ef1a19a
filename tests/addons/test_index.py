"""The index beside a capture: written by the proxy's SaveCapture (and
rotated with it) or by ``dspscope index``, trusted only as far as it agrees
with the capture, and read by check to the same verdicts as the capture."""

from __future__ import annotations

import io
import json
import os

from mitmproxy import io as mitm_io
from mitmproxy.test import taddons

from dspscope.addons.capture import SaveCapture, segments
from dspscope.addons.index import IndexReader, index_path
from dspscope.addons.record import read_indexed, record_of
from dspscope.addons.track import Track
from dspscope.cli import main
from tests.addons import support


def write_capture(path, flows):
    with open(path, "wb") as fh:
        writer = mitm_io.FlowWriter(fh)
        for f in flows:
            writer.add(f)
    return str(path)


def broken_job_flows():
    flows = support.job_flows(images=2)
    del flows[1]  # one image fewer than the job says: job.images-mismatch
    stray = support.job_flows(token="00000000-0000-4000-8000-000000000000", images=1)
    return flows + stray[3:4]  # an EndPostScanJob of an unknown job


def check_json(capsys, *args):
    code = main(["check", "--json", "--no-progress", *args])
    return code, json.loads(capsys.readouterr().out)


def proxied(tmp_path, flows, name="p.mitm", **options):
    """``flows`` through Track and SaveCapture, as the proxy writes them."""
    path = tmp_path / name
    track, save = Track(), SaveCapture()
    with taddons.context(track, save) as tctx:
        tctx.configure(save, dspscope_save=str(path), **options)
        for f in flows:
            save.request(f)
            track.response(f)
            save.response(f)
        save.done()
    return path


def entries(capture):
    return list(IndexReader(capture).entries())


def test_the_proxy_writes_where_each_flow_is_and_its_record(tmp_path):
    flows = support.job_flows(images=2)
    path = proxied(tmp_path, flows)
    found = entries(path)
    data = path.read_bytes()
    assert [e.record for e in found] == [record_of(f) for f in flows]
    assert found[-1].offset + found[-1].length == len(data)
    for entry in found:
        assert entry.flags == {"device": "10.0.0.7" if entry.record["kind"] != "event" else "address"}
        record = data[entry.offset:entry.offset + entry.length]
        assert record_of(next(mitm_io.FlowReader(io.BytesIO(record)).stream())) == entry.record
    assert oct(index_path(path).stat().st_mode & 0o777) == "0o600"


def test_each_rotated_segment_keeps_its_own_index(tmp_path):
    flows = support.job_flows(images=3)
    path = proxied(tmp_path, flows, dspscope_rotate_size="2k")
    files = segments(path)
    assert len(files) > 2
    seen = []
    for file in files:
        found = entries(file)
        assert found and found[-1].offset + found[-1].length == file.stat().st_size
        seen += [e.record["id"] for e in found]
    assert seen == [f.id for f in flows]


def test_an_existing_capture_is_moved_aside_with_its_index(tmp_path):
    first = proxied(tmp_path, support.job_flows(images=1))
    ids = [e.record["id"] for e in entries(first)]
    proxied(tmp_path, support.job_flows(images=1))
    older = [p for p in segments(first) if p != first]
    assert len(older) == 1 and [e.record["id"] for e in entries(older[0])] == ids


def test_check_reads_the_index_to_the_same_verdicts(tmp_path, capsys):
    path = str(proxied(tmp_path, broken_job_flows()))
    code, from_index = check_json(capsys, path)
    assert code == 1
    assert {g["code"] for j in from_index["jobs"] for g in j["findings"]} >= {"job.images-mismatch"}
    assert check_json(capsys, "--no-index", path) == (code, from_index)


def test_dspscope_index_on_a_stock_rotated_set(tmp_path, capsys):
    flows = broken_job_flows()
    first = write_capture(tmp_path / "s-20240501-000000.mitm", flows[:3])
    second = write_capture(tmp_path / "s.mitm", flows[3:])
    expected = check_json(capsys, first, second)
    assert main(["index", "--no-progress", first, second]) == 0
    assert f"{len(flows) - 3} exchange(s)" in capsys.readouterr().out
    assert len(entries(first)) == 3 and len(entries(second)) == len(flows) - 3
    assert check_json(capsys, first, second) == expected
    assert all(item.flow is None for item in read_indexed(second))


def test_an_index_that_does_not_agree_is_read_only_as_far_as_it_does(tmp_path, capsys):
    flows = broken_job_flows()
    path = proxied(tmp_path, flows)
    expected = check_json(capsys, "--no-index", str(path))
    index = index_path(path)
    lines = index.read_bytes().splitlines(keepends=True)
    # a torn last line and a gap: the flows after them come from the capture
    index.write_bytes(b"".join(lines[:3]) + lines[4] + lines[5][:-9])
    items = list(read_indexed(str(path)))
    assert [i.flow is None for i in items] == [True, True] + [False] * (len(flows) - 2)
    assert [i.record["id"] for i in items] == [f.id for f in flows]
    assert check_json(capsys, str(path)) == expected
    # the index of another capture: not used at all
    other = proxied(tmp_path, support.job_flows(images=2), "other.mitm")
    index.write_bytes(index_path(other).read_bytes())
    assert all(i.flow is not None for i in read_indexed(str(path)))
    assert check_json(capsys, str(path)) == expected


def test_no_index_beside_what_is_not_a_file(tmp_path):
    fifo = tmp_path / "pipe.mitm"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the other end, so opening it for writing works
    try:
        save = SaveCapture()
        with taddons.context(save) as tctx:
            tctx.configure(save, dspscope_save=str(fifo))
            assert save.index is None
            save.done()
    finally:
        os.close(reader)
    assert not index_path(fifo).exists()
