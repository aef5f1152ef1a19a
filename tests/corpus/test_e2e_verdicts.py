"""The verdicts on real traffic: the simulated server and device through
``dspscope proxy`` (with and without the server-spec-violations preset),
then ``dspscope check`` on the capture, each its own process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dspscope.rules import find_preset
from tests.rules.test_proxy_e2e import proxied, records, run_device

pytestmark = pytest.mark.e2e

#: What each rule of the preset breaks, and the code check must show for it.
PRESET_CODES = {
    "wrong-relates-to": {"wsa.relates-to-unmatched", "wsa.relates-to-mismatch"},
    "missing-relates-to": {"wsa.missing-relates-to"},
    "reused-message-id": {"wsa.duplicate-message-id"},
    "fault-as-http-200": {"http.fault-status-200"},
    "cut-off-xml": {"xml.malformed"},
    "wrong-envelope-namespace": {"soap.unknown-envelope-namespace"},
    "not-utf8": {"xml.malformed"},
    "empty-body": {"wsa.action-body-mismatch"},
    "lost-end-state-event": {"job.event-dropped"},
}


def check(capture: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "dspscope", "check", str(capture), "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def findings_by_flow(report: dict[str, Any]) -> dict[str, set[str]]:
    """flow id -> codes check reported for it (from the examples it keeps)."""
    out: dict[str, set[str]] = {}
    groups = [g for job in report["jobs"] for g in job["findings"]] + report["outside_jobs"]
    for group in groups:
        for example in group["examples"]:
            if example.get("flow"):
                out.setdefault(example["flow"], set()).add(group["code"])
    return out


async def test_every_violation_of_the_server_preset_appears_in_check(tmp_path: Path) -> None:
    preset = find_preset("server-spec-violations").path.read_text()
    async with proxied(tmp_path, preset, "--quiet") as (server, proxy, port):
        # events (a third of the end states dropped), then a polling device
        # (GetPostScanJobElements, the second and fifth of them broken)
        await run_device(tmp_path, port, jobs=4, images=4, subscribe=True, event_timeout=2,
                         request_timeout=10, retries=0)
        await run_device(tmp_path, port, jobs=6, images=1, request_timeout=10, retries=0)
        await server.idle()
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    fired = [(r["id"], rule["name"]) for r in records(tmp_path) for rule in r["rules"]]
    names = {name for _, name in fired}
    # the run must exercise the preset, or this test proves nothing
    assert {"wrong-relates-to", "reused-message-id", "fault-as-http-200", "not-utf8",
            "wrong-envelope-namespace", "lost-end-state-event"} <= names, sorted(names)
    report = check(tmp_path / "cap.mitm")
    assert report["failed"]
    per_flow = findings_by_flow(report)
    all_codes = set().union(*per_flow.values())
    for flow, name in fired:
        expected = PRESET_CODES[name]
        assert expected & all_codes, f"{name}: none of {sorted(expected)} in check"
        if flow in per_flow:  # (examples are kept for the first occurrences only)
            assert expected & per_flow[flow], f"{name} on flow {flow}: check says {per_flow[flow]}"
    dropped = [j for j in report["jobs"] if j.get("dropped_events")]
    if "lost-end-state-event" in names:
        assert dropped and all(j["outcome"] is None for j in dropped)


async def test_a_polling_device_gets_its_jobs_outcome(tmp_path: Path) -> None:
    async with proxied(tmp_path, "rules: []\n", "--quiet") as (server, proxy, port):
        results = await run_device(tmp_path, port, jobs=3, images=2)
        await server.idle()
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    assert [r.error for r in results if not r.ok] == []
    assert any(r["operation"] == "GetPostScanJobElements" for r in records(tmp_path))
    report = check(tmp_path / "cap.mitm")
    assert [j["outcome"] for j in report["jobs"]] == ["Completed"] * 3
    assert not report["failed"] and report["counts"]["warning"] == 0, report


async def test_events_that_overtake_their_job_raise_nothing(tmp_path: Path) -> None:
    """A CreatePostScanJobResponse held back by a rule: the server's first
    events reach the device (and the capture) before the token does."""
    rules = """\
rules:
  - name: slow-create
    match: {operation: CreatePostScanJob, direction: response}
    action: {delay: 1.0}
"""
    async with proxied(tmp_path, rules, "--quiet") as (server, proxy, port):
        await run_device(tmp_path, port, jobs=1, images=1, subscribe=True, event_timeout=10)
        await server.idle()
        assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    seen = records(tmp_path)
    token = next(r["job_token"] for r in seen if r["operation"] == "CreatePostScanJob")
    first_event = min(r["time"] for r in seen if r["kind"] == "event" and r["job_token"] == token)
    created = next(r for r in seen if r["operation"] == "CreatePostScanJob")
    assert first_event < created["time"] + created["duration_ms"] / 1000  # it did overtake
    assert all("job.unknown-token" not in {f["code"] for f in r["findings"]} for r in seen)
    report = check(tmp_path / "cap.mitm")
    assert [j["outcome"] for j in report["jobs"]] == ["Completed"]
    assert report["counts"]["error"] == report["counts"]["warning"] == 0, report
