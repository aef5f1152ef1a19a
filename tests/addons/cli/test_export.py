from __future__ import annotations

import json

from mitmproxy import io as mitm_io

from dspscope.cli import main
from tests.addons import support
from tests.addons.cli.test_check import write_capture


def test_jsonl(tmp_path, capsys):
    flows = support.job_flows(images=1)
    capture = write_capture(tmp_path / "c.mitm", flows)
    assert main(["export", capture]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in records] == [f.id for f in flows]
    assert all(r["findings"] == [] for r in records)


def test_har_is_valid_and_carries_our_records(tmp_path):
    flows = support.job_flows(images=1)
    capture = write_capture(tmp_path / "c.mitm", flows)
    out = tmp_path / "c.har"
    assert main(["export", capture, "--format", "har", "-o", str(out)]) == 0
    har = json.loads(out.read_text())
    assert har["log"]["version"] == "1.2"
    entries = har["log"]["entries"]
    assert len(entries) == len(flows)
    assert entries[0]["request"]["method"] == "POST"
    assert entries[0]["_dspscope"]["operation"] == "CreatePostScanJob"
    # mitmproxy reads its HAR back.
    with open(out, "rb") as fh:
        assert len(list(mitm_io.FlowReader(fh).stream())) == len(flows)


def test_unreadable_capture_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.mitm"
    bad.write_bytes(b"nope")
    assert main(["export", str(bad)]) == 2
    assert "bad.mitm" in capsys.readouterr().err
