from __future__ import annotations

import io

from mitmproxy.test import taddons, tflow

from dspscope.addons.headless import Headless, exchange_line, findings_text, job_line
from dspscope.addons.track import Track
from tests.addons import support


def test_findings_text():
    assert findings_text([]) == "ok"
    text = findings_text([{"severity": "warning", "code": "b"}, {"severity": "error", "code": "a"},
                          {"severity": "error", "code": "a"}])
    assert text == "2 errors, 1 warning: a"


async def test_one_line_per_exchange_and_job():
    out = io.StringIO()
    headless, track = Headless(out), Track()
    track.listeners.append(headless.jobs_finished)
    with taddons.context(track, headless) as tctx:
        tctx.configure(headless, dspscope_headless=True)
        for f in support.job_flows(images=1):
            track.response(f)
            headless.response(f)
        lines = out.getvalue().splitlines()  # the job's line came with its end, not at shutdown
        track.done()
        headless.done()
    assert out.getvalue().splitlines() == lines
    assert len(lines) == 6
    assert "CreatePostScanJob" in lines[0] and " 200 " in lines[0] and "job 5c0ffee0" in lines[0]
    assert lines[0].rstrip().endswith("ok")
    assert "<- PostScanJobEndStateEvent" in lines[4]
    assert lines[5].startswith(f"job {support.TOKEN} from 10.0.0.7: Completed, 1 image(s)")


async def test_quiet_unless_switched_on():
    out = io.StringIO()
    headless = Headless(out)
    with taddons.context(headless):
        headless.response(tflow.tflow(resp=True))
    assert out.getvalue() == ""


def test_captured_text_cannot_break_the_line():
    f = tflow.tflow(err=True)
    f.request.path = "/a\x1b[31m\nb"
    line = exchange_line(f)
    assert "\n" not in line and "\x1b" not in line and "---" in line
    assert "\n" not in job_line({"token": "t\nx", "device": "d"})


def test_a_job_line_says_how_many_events_rules_dropped() -> None:
    from dspscope.addons.headless import job_line

    line = job_line({"token": "t", "device": "d", "outcome": None, "state": "ended", "images": 1,
                     "events": 3, "dropped_events": 1, "faults": [], "findings": []})
    assert "3 event(s), 1 dropped by rules, 0 fault(s)" in line and ": ended," in line
