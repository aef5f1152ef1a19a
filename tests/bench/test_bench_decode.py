"""Smoke test of the decode benchmark harness: it runs, briefly, and prints
its table.  No assertion on speed (that is what running it is for)."""

from __future__ import annotations

import pytest

from tests.bench import bench_decode


def test_corpus_starts_with_the_typical_request() -> None:
    cases = bench_decode.corpus()
    assert cases[0].name == "CreatePostScanJobRequest"
    assert len({c.name for c in cases}) == len(cases) >= 10
    assert all(c.xml.lstrip().startswith(b"<") for c in cases)


@pytest.mark.e2e  # a benchmark smoke
def test_harness_runs_and_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_decode.main(["--seconds", "0.02", "--only", "CreatePostScanJobRequest", "MTOM"]) == 0
    out = capsys.readouterr().out
    assert "cores:" in out and "lxml:" in out and "python:" in out
    assert "CreatePostScanJobRequest" in out and "SendImageRequest (MTOM)" in out
    assert "Reference, same bytes" in out
    rows = bench_decode.run(0.01, ["EndPostScanJobRequest"])
    assert [r.case.name for r in rows] == ["EndPostScanJobRequest"]
    assert rows[0].ours > 0 and rows[0].baseline > 0
