"""Replay as a user runs it: real dspscope and mitmdump processes over
127.0.0.1, captures made by the proxy and by stock mitmdump."""

from __future__ import annotations

import json
import re
import signal
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from mitmproxy import io

from dspscope.replay.load import load_captures
from tests.helpers import free_port
from tests.replay.conftest import Session
from tests.replay.support import Processes

pytestmark = pytest.mark.e2e

RULES = """\
rules:
  - name: second-image-fails
    match:
      operation: SendImage
      nth_in_job: 2
    action:
      fault:
        subcode: ServerErrorInternalError
"""

HANG = """\
rules:
  - name: no-answer-to-the-end
    match: {operation: EndPostScanJob, direction: request}
    action: {transport: hang}
"""


def _summary(text: str) -> re.Match[str]:
    found = re.search(r"(\d+) matched, (\d+) unmatched, (\d+) event\(s\) sent, (\d+) failed, "
                      r"(\d+) not sent", text)
    assert found, text
    return found


@pytest.mark.parametrize("fresh_tokens", [False, True], ids=["recorded-tokens", "fresh-tokens"])
def test_server_replay_runs_a_fresh_device_through_every_job(
    recorded: Session, procs: Processes, fresh_tokens: bool
) -> None:
    capture = load_captures([str(recorded.capture)])
    server, url = procs.replay_server(recorded.capture,
                                      extra=("--fresh-tokens",) if fresh_tokens else ())
    jobs = procs.device(url, "--subscribe", "--jobs", "2", "--images", "2", "--seed", "99")
    assert [job["final_state"] for job in jobs] == ["Completed", "Completed"]
    assert all(job["ok"] for job in jobs), jobs
    # the device checks RelatesTo against its MessageID, HTTP status and findings of every reply
    assert [job["problems"] for job in jobs] == [[], []]
    assert [job["images_reported"] for job in jobs] == [2, 2]
    # every recorded event of each job came to the device's own sink (not the recorded one)
    assert [job["events"] for job in jobs] == [job["events"] for job in recorded.jobs]
    assert sum(job["events"] for job in jobs) == len(capture.events) > 0
    tokens = [job["token"] for job in jobs]
    if fresh_tokens:
        assert len(set(tokens)) == 2 and not set(tokens) & {job["token"] for job in recorded.jobs}
    else:
        assert tokens == [job["token"] for job in recorded.jobs]
    assert server.stop() == 0
    matched, unmatched, sent, failed, unsent = map(int, _summary(server.text()).groups())
    assert (unmatched, failed, unsent) == (0, 0, 0)
    assert sent == len(capture.events) and matched == len(capture.exchanges)


def test_client_replay_against_a_fresh_server_shows_no_difference(
    recorded: Session, procs: Processes, tmp_path: Path
) -> None:
    capture = load_captures([str(recorded.capture)])
    _, origin = procs.sim_server()
    junit = tmp_path / "replay.xml"
    done = procs.run("replay", "client", str(recorded.capture), "--to", origin, "--insecure",
                     "--speed", "recorded", "--concurrency", "2", "--json", "--junit", str(junit))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["differing"] == 0 and report["skipped"] == 0
    assert report["exchanges"] == len(capture.exchanges)
    assert report["events"] == [] and report["events_received"] == len(capture.events)
    creates = [r for r in report["results"] if r["operation"] == "ws-dsp:CreatePostScanJob"]
    assert len(creates) == 2
    for create in creates:  # the live server issued its own tokens; later requests carried them
        assert create["live_job_token"] and create["live_job_token"] != create["job_token"]
    assert ET.parse(junit).getroot().get("failures") == "0"


def test_client_replay_reports_a_fault_rule_and_fails(
    recorded: Session, procs: Processes, tmp_path: Path
) -> None:
    rules = tmp_path / "faults.yaml"
    rules.write_text(RULES)
    _, origin = procs.sim_server()
    _, proxy = procs.proxy(origin, "--rules", str(rules))
    junit = tmp_path / "replay.xml"
    done = procs.run("replay", "client", str(recorded.capture), "--to", proxy, "--insecure",
                     "--junit", str(junit))
    assert done.returncode == 1, done.stdout + done.stderr
    differing = [line for line in done.stdout.splitlines() if line.startswith("DIFF")]
    assert len(differing) == 2 and all("ws-dsp:SendImage" in line for line in differing)
    assert done.stdout.count("fault-appeared") == 2
    assert "ServerErrorInternalError" in done.stdout and "BEHAVIOUR DIFFERS" in done.stdout
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None and root.get("failures") == suite.get("failures") == "2"
    failed = [case.get("name") or "" for case in suite if case.find("failure") is not None]
    assert len(failed) == 2 and all("SendImage" in name for name in failed)


def test_stock_mitmdump_capture_replays_both_ways(stock: Session, procs: Processes) -> None:
    with open(stock.capture, "rb") as fh:
        flows = list(io.FlowReader(fh).stream())
    assert flows and not any("dspscope" in f.metadata for f in flows)
    capture = load_captures([str(stock.capture)])
    assert len(capture.creates) == 1 and capture.events == []

    server, url = procs.replay_server(stock.capture)
    jobs = procs.device(url, "--jobs", "1", "--images", "2", "--seed", "5")
    assert [(job["ok"], job["token"], job["problems"]) for job in jobs] == [
        (True, stock.jobs[0]["token"], [])]
    server.stop()
    assert _summary(server.text()).group(2) == "0"

    _, origin = procs.sim_server()
    done = procs.run("replay", "client", str(stock.capture), "--to", origin, "--insecure")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 differ - same behaviour" in done.stdout


def test_client_replay_against_a_server_that_is_down_says_so_in_one_line(
    recorded: Session, procs: Processes, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    junit = tmp_path / "replay.xml"
    done = procs.run("replay", "client", str(recorded.capture), "--to", f"https://127.0.0.1:{port}",
                     "--insecure", "--junit", str(junit))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"dspscope replay: cannot connect to https://127.0.0.1:{port}: Connection refused; "
        "is the server running?"]
    assert not junit.exists()


def test_client_replay_against_an_untrusted_certificate_says_how_to_trust_it(
    recorded: Session, procs: Processes
) -> None:
    _, origin = procs.sim_server()
    done = procs.run("replay", "client", str(recorded.capture), "--to", origin)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"dspscope replay: cannot verify the certificate of {origin}: ")
    assert line.endswith("give --cafile PEM (the server's CA) or --insecure")


def test_ctrl_c_during_client_replay_reports_what_ran(
    recorded: Session, procs: Processes, tmp_path: Path
) -> None:
    """The server never answers the first EndPostScanJob, so the replay is
    surely still running when Ctrl-C comes, after the exchanges before it."""
    rules = tmp_path / "hang.yaml"
    rules.write_text(HANG)
    _, origin = procs.sim_server()
    proxy, address = procs.proxy(origin, "--rules", str(rules), quiet=False)
    junit = tmp_path / "replay.xml"
    replay = procs.start("replay", "client", str(recorded.capture), "--to", address, "--insecure",
                         "--concurrency", "1", "--junit", str(junit))
    proxy.wait_for(r"SendImage .*\n(.*\n)*.*SendImage ")  # the job's two images went through
    assert replay.stop(signal.SIGINT) == 130, replay.text()
    text = replay.text()
    summary = re.search(r"^(\d+) exchange\(s\) replayed against .*, (\d+) not replayed - INTERRUPTED$",
                        text, re.M)
    assert summary, text
    ran, skipped = int(summary.group(1)), int(summary.group(2))
    assert ran >= 4 and skipped >= 1
    assert f"interrupted after {ran} of {ran + skipped} exchange(s)" in text
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == str(ran + 1) and suite.get("skipped") == str(skipped)
    assert "interrupted" in (suite.get("name") or "")
