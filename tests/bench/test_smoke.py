"""A seconds-long smoke of the benchmark harness: every part runs, at toy
sizes, and produces rows of the right shape.  Nothing asserts on times."""

from __future__ import annotations

import math

import pytest
from mitmproxy import http
from mitmproxy import io as mitm_io

from tests.bench import __main__ as suite
from tests.bench import capture_gen, decoding, large_image, overhead, soak
from tests.bench.common import Result, table


def _rows_ok(results: list[Result], figure: str) -> None:
    assert results and all(r.figure == figure for r in results)
    for r in results:
        assert r.ours is not None and math.isfinite(r.ours) and r.ours >= 0, r


def test_table_ratio_and_verdicts():
    rows = [
        Result("1 x", "throughput", "req/s", 90.0, 100.0, 0.9, "higher"),
        Result("1 x", "p99", "ms", 120.0, 100.0, 1.15, "lower"),
        Result("4 x", "first screen", "s", 1.5, None, 2.0, "lower", absolute=True),
        Result("4 x", "vs a baseline that gave up", "s", 3.0, None, 1.0, "lower",
               baseline_text=">120 s"),
        Result("4 x", "not compared", "s", 3.0, None, 1.0, "lower", baseline_text="not run"),
    ]
    assert [r.met for r in rows] == [True, False, True, True, None]
    text = "\n".join(table(rows))
    assert "| 1 x" in text and "**no**" in text and ">120 s" in text and "0.90" in text


def test_generated_capture_reads_back_with_our_metadata(tmp_path):
    path = capture_gen.write(tmp_path / "c.mitm", 30)
    with open(path, "rb") as fh:
        flows = [f for f in mitm_io.FlowReader(fh).stream() if isinstance(f, http.HTTPFlow)]
    assert len(flows) == 30 and len({f.id for f in flows}) == 30
    meta = [f.metadata["dspscope"] for f in flows]
    assert {m["operation"] for m in meta} >= {"CreatePostScanJob", "SendImage", "EndPostScanJob",
                                              "PostScanJobStatusEvent", "PostScanJobEndStateEvent"}
    tokens = {m["job_token"] for m in meta}
    assert len(tokens) == 3  # 30 exchanges: the 12-exchange job thrice (the last one cut short)
    assert flows[12].request.timestamp_start > flows[0].request.timestamp_start
    images = [m for m in meta if m["operation"] == "SendImage"]
    assert all(m["request"]["attachments"][0]["sha256"] for m in images)


@pytest.mark.e2e
def test_decode_figure():
    _rows_ok(decoding.run(decoding.SMOKE), decoding.FIGURE)


@pytest.mark.e2e
def test_overhead_figure_through_the_three_proxies():
    results = overhead.run(overhead.SMOKE)
    _rows_ok(results, overhead.FIGURE)
    assert {r.name.split(",")[0] for r in results} == {
        "throughput vs mitmdump -w", "p50 latency vs mitmdump -w", "p99 latency vs mitmdump -w",
        "proxy CPU per request vs mitmdump -w", "throughput vs plain mitmdump (no capture)",
        "p99 latency vs plain mitmdump (no capture)"}
    assert {r.name.split(", ")[2] for r in results} == {"small exchanges", "uploads"}
    throughput = results[0]
    assert throughput.ours > 0 and throughput.baseline and throughput.baseline > 0
    assert "failed" not in throughput.note, throughput.note  # every request answered


@pytest.mark.e2e
def test_large_image_figure():
    _rows_ok(large_image.run(large_image.SMOKE), large_image.FIGURE)


@pytest.mark.e2e
def test_soak_figure():
    results = soak.run(soak.SMOKE)
    _rows_ok(results, soak.FIGURE)


@pytest.mark.e2e
def test_reading_figure():
    from tests.bench import reading

    results = reading.run(reading.SMOKE)
    _rows_ok(results, reading.FIGURE)
    assert results[0].target == reading.CHECK_TARGET and results[0].baseline


def test_command_line_lists_the_figures(capsys):
    with pytest.raises(SystemExit):
        suite.main(["--help"])
    out = capsys.readouterr().out
    assert "--quick" in out and "--only" in out and "soak" in out


@pytest.mark.e2e
def test_viewer_figure():
    from tests.bench import viewer_scale

    results = viewer_scale.run(viewer_scale.SMOKE)
    _rows_ok(results, viewer_scale.FIGURE)
    names = [r.name for r in results]
    assert any(n.startswith("first screen") for n in names)
    assert any(n.startswith("live input latency p99") for n in names)
