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


class _Flushes(io.StringIO):
    """Counts flushes; ``shown`` is what a reader of the stream has seen."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.shown = ""

    def flush(self) -> None:
        self.flushes += 1
        self.shown = self.getvalue()


async def test_lines_are_flushed_together_soon_and_at_shutdown():
    from tests.helpers import eventually_async

    out = _Flushes()
    headless = Headless(out)
    flows = support.job_flows(images=3)
    with taddons.context(headless) as tctx:
        tctx.configure(headless, dspscope_headless=True)
        for f in flows:
            headless.response(f)
        assert out.flushes == 0  # one flush for the lot, not a system call per line
        await eventually_async(lambda: out.flushes == 1, what="the lines flushed")
        assert len(out.shown.splitlines()) == len(flows)
        headless.response(flows[0])
        headless.done()  # nothing left unflushed at shutdown
    assert len(out.shown.splitlines()) == len(flows) + 1


def test_lines_are_flushed_at_once_off_the_event_loop():
    out = _Flushes()
    headless = Headless(out)
    with taddons.context(headless) as tctx:
        tctx.configure(headless, dspscope_headless=True)
        headless.response(support.job_flows(images=0)[0])
        assert out.flushes == 1 and out.shown
