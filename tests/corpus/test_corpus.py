"""Every defect of the corpus is flagged, every control stays quiet: by
``wsdsp.decode`` on the message itself and by ``dspscope check`` on a
capture of the job it is part of (the command, on a file written here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mitmproxy import io as mitm_io

from dspscope.cli import main
from dspscope.wsdsp import decode
from tests.corpus.capture import to_flows
from tests.corpus.cases import CASES, Case

LOUD = ("error", "warning")
DEFECTS = [c for c in CASES if c.expect]
CONTROLS = [c for c in CASES if not c.expect]


def test_the_corpus_is_big_enough_and_named_once() -> None:
    assert len(DEFECTS) >= 60 and len(CONTROLS) >= 25, (len(DEFECTS), len(CONTROLS))
    assert len({c.name for c in CASES}) == len(CASES)


def write_capture(path: Path, case: Case) -> Path:
    with open(path, "wb") as fh:
        writer = mitm_io.FlowWriter(fh)
        for flow in to_flows(case.steps()):
            writer.add(flow)
    return path


def check_codes(report: dict) -> dict[str, str]:
    """code -> severity of every finding in a `dspscope check --json` report."""
    groups = [g for job in report["jobs"] for g in job["findings"]] + report["outside_jobs"]
    return {g["code"]: g["severity"] for g in groups}


def run_check(tmp_path: Path, case: Case, capsys: pytest.CaptureFixture[str]) -> dict:
    capture = write_capture(tmp_path / "case.mitm", case)
    status = main(["check", str(capture), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert status == (1 if report["counts"]["error"] else 0)
    return report


@pytest.mark.parametrize("case", DEFECTS, ids=lambda c: c.name)
def test_defect_is_flagged(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.message is not None:
        content, content_type = case.message()
        found = {f.code for f in decode(content, content_type).findings}
        assert case.expect <= found, f"decode missed {sorted(case.expect - found)}; found {sorted(found)}"
    found_by_check = check_codes(run_check(tmp_path, case, capsys))
    assert case.expect <= set(found_by_check), (
        f"check missed {sorted(case.expect - set(found_by_check))}; found {sorted(found_by_check)}")


@pytest.mark.parametrize("case", CONTROLS, ids=lambda c: c.name)
def test_control_is_quiet(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.message is not None:
        content, content_type = case.message()
        loud = [(f.code, f.text) for f in decode(content, content_type).findings if f.severity in LOUD]
        assert loud == []
    report = run_check(tmp_path, case, capsys)
    loud_codes = {code: sev for code, sev in check_codes(report).items() if sev in LOUD}
    assert loud_codes == {}
    assert not report["failed"]


def test_polled_job_gets_its_outcome(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = next(c for c in CASES if c.name.startswith("control: a polling device"))
    report = run_check(tmp_path, case, capsys)
    assert [j["outcome"] for j in report["jobs"]] == ["Completed"]


def test_dropped_event_is_recorded_as_dropped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = next(c for c in CASES if c.name == "an end-state event a rule dropped")
    report = run_check(tmp_path, case, capsys)
    job = report["jobs"][0]
    assert (job["outcome"], job["dropped_events"], job["events"]) == (None, 1, 0)


def test_the_real_command_on_a_defect_and_a_control(tmp_path: Path) -> None:
    """The same verdicts from the installed command, in its own process."""
    defect = next(c for c in DEFECTS if c.name == "a Sender fault sent with HTTP 200")
    control = next(c for c in CONTROLS if c.name == "control: a whole job")
    for case, status in ((defect, 1), (control, 0)):
        capture = write_capture(tmp_path / f"{status}.mitm", case)
        done = subprocess.run([sys.executable, "-m", "dspscope", "check", str(capture), "--json"],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == status, done.stderr
        codes = check_codes(json.loads(done.stdout))
        assert case.expect <= set(codes) and all(s not in LOUD for s in codes.values()) == (status == 0)
