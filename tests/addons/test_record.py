from __future__ import annotations

import io
import json

import pytest
from mitmproxy import io as mitm_io
from mitmproxy.test import taddons, tflow

from dspscope.addons.metadata import METADATA_KEY
from dspscope.addons.record import (
    CaptureError,
    has_metadata,
    json_line,
    read_capture,
    record_of,
    records,
)
from dspscope.addons.track import Track
from tests.addons import support

KEYS = {"id", "time", "client", "server", "method", "url", "status", "duration_ms", "rule_delay_ms",
        "protocol", "kind", "operation", "job_token", "request", "response", "findings", "rules", "error"}


def test_record_keys_and_values():
    req = support.create()
    f = support.flow(req, support.created(req))
    record = record_of(f)
    assert set(record) == KEYS
    assert record["client"] == "10.0.0.7:40123"
    assert record["server"] == "address:22"
    assert record["method"] == "POST"
    assert record["status"] == 200
    assert record["operation"] == "CreatePostScanJob"
    assert record["job_token"] == support.TOKEN
    assert record["duration_ms"] == 3000.0
    json.dumps(record)


def test_saved_metadata_is_used_as_is():
    req = support.create()
    f = support.flow(req, support.created(req))
    with taddons.context(Track()) as tctx:
        tctx.master.addons.get("dspscope_track").response(f)
    f.metadata[METADATA_KEY]["rules"] = [{"name": "r", "action": "fault", "side": "response"}]
    assert has_metadata(f)
    assert record_of(f)["rules"] == [{"name": "r", "action": "fault", "side": "response"}]


def test_stock_capture_records_follow_jobs_across_flows():
    flows = support.job_flows(images=2)
    out = list(records(flows))
    assert [r["kind"] for r in out] == ["exchange"] * 4 + ["event"] * 2
    assert all(r["findings"] == [] for r in out), [r["findings"] for r in out]
    assert not any(has_metadata(f) for f in flows), "computing a record must not store it"


def test_records_without_a_shared_tracker_flag_unknown_tokens():
    flows = support.job_flows(images=1)
    lone = record_of(flows[1])
    assert [f["code"] for f in lone["findings"]] == ["job.unknown-token"]


def test_flow_error_is_in_the_record():
    f = support.flow(support.create())
    f.error = tflow.terr("client disconnected")
    record = record_of(f)
    assert record["status"] is None and record["duration_ms"] is None
    assert record["error"] == "client disconnected"


def test_read_capture_streams_and_reports_a_torn_end(tmp_path):
    path = tmp_path / "c.mitm"
    buf = io.BytesIO()
    writer = mitm_io.FlowWriter(buf)
    for f in support.job_flows(images=1):
        writer.add(f)
    path.write_bytes(buf.getvalue()[:-10])
    seen = []
    progress = []
    with pytest.raises(CaptureError) as err:
        for f in read_capture(str(path), lambda done, total: progress.append((done, total))):
            seen.append(f)
    assert len(seen) == 4 and err.value.flows_read == 4
    assert progress[-1][1] == path.stat().st_size


def test_read_capture_missing_file(tmp_path):
    with pytest.raises(CaptureError, match="unreadable"):
        list(read_capture(str(tmp_path / "nope.mitm")))


def test_json_line_survives_undecodable_urls():
    f = tflow.tflow(resp=True)
    f.request.path = "/scan\udcff\nx"
    line = json_line(record_of(f))
    assert "\n" not in line
    assert json.loads(line)["url"].endswith("/scan\udcff\nx")
    line.encode("utf-8")
