"""The viewer on a real proxy over 127.0.0.1: intercept (edit and forward,
answer with a fault), replay to the real server, a busy port, the demo."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from textual.widgets import TextArea

from dspscope.sim.server import ScanServer
from dspscope.viewer.app import DspscopeApp
from dspscope.viewer.live import LiveSource
from dspscope.viewer.screens.choose import Choose
from dspscope.viewer.screens.intercept import InterceptScreen
from dspscope.viewer.screens.replay import ReplayScreen
from dspscope.viewer.store import Row
from dspscope.viewer.widgets.exchange_list import ExchangeList
from dspscope.viewer.widgets.rules_panel import RuleList
from dspscope.wsdsp import build, decode, encode
from tests.helpers import free_port
from tests.viewer.conftest import SIZE
from tests.viewer.pilot import detail_drawn, screen_text, shown, until

pytestmark = pytest.mark.e2e


@pytest.fixture
async def server() -> AsyncIterator[ScanServer]:
    sim = ScanServer("127.0.0.1", 0, tls_on=False)
    await sim.start()
    yield sim
    await sim.stop()


def live_source(upstream: str, confdir: Path, port: int = 0) -> LiveSource:
    return LiveSource({"mode": [f"reverse:{upstream}"], "listen_host": "127.0.0.1",
                       "listen_port": port, "connection_strategy": "lazy",
                       "confdir": str(confdir)}, title="test proxy")


async def started(pilot: Any, source: LiveSource) -> str:
    await until(pilot, lambda: source.runner is not None and source.runner.listen_addrs,
                what="proxy listening")
    host, port = source.runner.listen_addrs[0]
    return f"http://{host}:{port}/ScanServer"


async def post(url: str, to: str) -> tuple[int, Any]:
    request = build.create_post_scan_job(to=to, user="S-1-5-21-1-2-3-500",
                                         psp_id="0c6e1f6a-3b9d-4c2e-8f1a-2b3c4d5e6f70")
    body = encode(request)
    async with aiohttp.ClientSession() as session, session.post(
            url, data=body.content, headers={"Content-Type": body.content_type}) as reply:
        return reply.status, decode(await reply.read(), reply.headers.get("Content-Type"))


def paused_rows(app: DspscopeApp) -> list[Row]:
    return [row for row in app.session.store.rows if row.paused]


async def open_paused(pilot: Any, app: DspscopeApp) -> InterceptScreen:
    await until(pilot, lambda: paused_rows(app), what="a paused request")
    listing = app.screen.query_one(ExchangeList)
    assert listing.select_row(paused_rows(app)[0])
    await until(pilot, lambda: listing.current() is paused_rows(app)[0], what="the paused row selected")
    await pilot.pause()
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, InterceptScreen), what="intercept screen")
    screen = app.screen
    assert isinstance(screen, InterceptScreen)
    return screen


async def test_intercept_edit_forward_then_answer_with_a_fault_then_replay(
        server: ScanServer, tmp_path: Path) -> None:
    source = live_source(f"http://127.0.0.1:{server.port}", tmp_path)
    app = DspscopeApp(source)
    async with app.run_test(size=SIZE) as pilot:
        url = await started(pilot, source)
        app.set_intercept("op:CreatePostScanJob is:request")

        # 1. edit and forward: the server sees the edited request.
        call = asyncio.create_task(post(url, url))
        screen = await open_paused(pilot, app)
        assert app.paused_count == 1
        editor = screen.query_one(TextArea)
        assert ">Scan<" in editor.text
        editor.text = editor.text.replace(">Scan<", ">Edited<")
        await pilot.press("ctrl+f")
        status, reply = await asyncio.wait_for(call, 15)
        assert status == 200 and reply.job_token
        job = server.jobs.jobs[reply.job_token]
        assert job.document_root == "Edited"
        await until(pilot, lambda: app.session.store.rows[-1].rules == ("intercept",),
                    what="edited exchange recorded")
        edited = app.session.store.rows[-1]
        assert edited.rewritten and not edited.paused and edited.status == 200
        detail = app.screen.query_one("#detail")
        app.screen.query_one(ExchangeList).select_row(edited)
        await detail_drawn(pilot)
        detail.query_one("#detail-tabs").active = "diff"
        await until(pilot, lambda: "request (original)" in screen_text(pilot), what="diff")
        assert "Edited</psp:DocumentRootName>" in screen_text(pilot)

        # 2. answer with a fault: the server never sees the request.
        jobs_before = len(server.jobs.jobs)
        call = asyncio.create_task(post(url, url))
        await open_paused(pilot, app)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: isinstance(app.screen, Choose) and app.focused is not None
                    and app.focused.screen is app.screen, what="the fault chooser focused")
        await pilot.press("down", "down", "down", "enter")  # ServerErrorTemporaryError
        status, reply = await asyncio.wait_for(call, 15)
        assert status == 500 and reply.fault is not None
        assert reply.fault.subcode == "ServerErrorTemporaryError"
        assert len(server.jobs.jobs) == jobs_before
        await until(pilot, lambda: app.session.store.rows[-1].fault == "ServerErrorTemporaryError",
                    what="answered exchange recorded")

        # 3. replay the edited exchange to its server, beside the recorded answer.
        app.set_intercept(None)
        listing = app.screen.query_one(ExchangeList)
        assert listing.select_row(edited)
        await until(pilot, lambda: listing.current() is edited, what="the edited row selected")
        await pilot.pause()
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReplayScreen), what="replay screen")
        await until(pilot, lambda: "live  HTTP 200" in screen_text(pilot), what="replayed")
        await until(pilot, lambda: "Same behaviour as recorded" in screen_text(pilot),
                    what="the comparison")
        assert len(server.jobs.jobs) == jobs_before + 1


async def test_intercepted_responses_edit_fault_and_forward(server: ScanServer, tmp_path: Path) -> None:
    """A real proxy between the simulated device and server: the server's
    CreatePostScanJob answers pause.  The first is edited (the device gets
    the edited JobToken), the second is answered with a spec fault instead
    (the device retries), the retry's answer goes on unchanged."""
    from dspscope.sim.device import SimulatedDevice
    from dspscope.sim.results import DeviceOptions

    fake = "00000000-0000-4000-8000-000000000000"
    source = live_source(f"http://127.0.0.1:{server.port}", tmp_path)
    app = DspscopeApp(source)
    async with app.run_test(size=SIZE) as pilot:
        url = await started(pilot, source)
        app.set_intercept("op:CreatePostScanJob is:response")
        device = SimulatedDevice(DeviceOptions(server=url, jobs=2, images=1, image_size=2_000,
                                               backoff=0.05, request_timeout=60, seed=3))
        run = asyncio.create_task(device.run())

        # 1. the answer, edited: the device receives the edit
        screen = await open_paused(pilot, app)
        assert screen.side == "response" and "paused response (HTTP 200)" in screen_text(pilot)
        editor = screen.query_one(TextArea)
        [real] = [t for t in server.jobs.jobs]
        assert real in editor.text
        editor.text = editor.text.replace(real, fake)
        await pilot.press("ctrl+f")
        first = await until_row(pilot, app, lambda row: row.rules == ("intercept",))
        assert first.rewritten and not first.paused and first.job == fake

        # 2. the next answer replaced by a spec fault: the server's job stays unknown to the device
        await open_paused(pilot, app)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: isinstance(app.screen, Choose), what="the list of spec faults")
        await pilot.press("down", "down", "down", "enter")  # ServerErrorTemporaryError
        faulted = await until_row(pilot, app, lambda row: row.fault == "ServerErrorTemporaryError")
        assert faulted.status == 500 and faulted.rules == ("intercept",)

        # 3. the device resends; that answer goes on unchanged
        await open_paused(pilot, app)
        await pilot.press("ctrl+f")
        results = await asyncio.wait_for(run, 60)
        app.set_intercept(None)
        assert results[0].token == fake and not results[0].ok  # the server never issued it
        assert results[1].ok and results[1].token in server.jobs.jobs and results[1].retries == 1
        assert results[1].faults == ["CreatePostScanJob: ServerErrorTemporaryError"]

        # what was recorded: the edit's diff and the fault's original
        flow = app.session.flow(first)
        assert flow is not None
        meta = flow.metadata["dspscope"]
        assert real.encode() in meta["original"]["response"] and fake.encode() in flow.response.content
        assert meta["rules"] == [{"name": "intercept", "action": "edit", "side": "response"}]
        listing = app.screen.query_one(ExchangeList)
        assert listing.select_row(first)
        detail = app.screen.query_one("#detail")
        await until(pilot, lambda: getattr(detail, "row", None) is first, what="the edited exchange's detail")
        detail.query_one("#detail-tabs").active = "diff"
        await until(pilot, lambda: "response (original)" in screen_text(pilot), what="the diff")
        replaced = app.session.flow(faulted)
        assert replaced is not None
        assert b"CreatePostScanJobResponse" in replaced.metadata["dspscope"]["original"]["response"]


async def until_row(pilot: Any, app: DspscopeApp, test: Any) -> Row:
    """The first finished row that passes ``test``, once it is there."""
    found: list[Row] = []

    def seen() -> bool:
        found[:] = [row for row in app.session.store.rows if not row.paused and test(row)]
        return bool(found)

    await until(pilot, seen, what="the exchange recorded")
    return found[0]


async def test_a_busy_port_is_shown_and_the_viewer_stays(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        source = live_source("http://127.0.0.1:9", tmp_path, port)
        app = DspscopeApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "proxy not running" in screen_text(pilot), what="error shown")
            assert str(port) in screen_text(pilot) or "in use" in screen_text(pilot)
            await pilot.press("4")
            await pilot.pause()
            await pilot.press("q")
        assert app.return_code in (0, None)


async def test_an_upstream_that_is_down_shows_as_an_error_row(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there
    source = live_source(f"http://127.0.0.1:{dead}", tmp_path)
    app = DspscopeApp(source)
    async with app.run_test(size=SIZE) as pilot:
        url = await started(pilot, source)
        status, _ = await asyncio.wait_for(post(url, url), 15)
        assert status == 502
        await until(pilot, lambda: len(app.session.store) == 1, what="the failed exchange")
        row = app.session.store.rows[0]
        assert row.error and row.operation == "CreatePostScanJob"
        await shown(pilot, "error:")


async def test_the_demo_runs_jobs_and_a_rule_can_be_switched_on(monkeypatch: Any,
                                                                tmp_path: Path) -> None:
    from dspscope.viewer.demo import DemoSource

    monkeypatch.setenv("DSPSCOPE_HOME", str(tmp_path))
    source = DemoSource(pause=0.2, images=3, image_size=5_000)
    app = DspscopeApp(source)
    async with app.run_test(size=SIZE) as pilot:
        store = app.session.store
        await until(pilot, lambda: any(j.outcome == "Completed" for j in store.jobs()), timeout=30,
                    what="a completed demo job")
        assert any(row.kind == "event" for row in store.rows)
        await pilot.press("3")
        rules = app.screen.query_one(RuleList)
        await until(pilot, lambda: rules.count > 0, what="preset rules listed")
        assert not any(rule.enabled for rule in rules.rules)
        rules.cursor = [r.name for r in rules.rules].index("busy-on-image")
        await pilot.press("space")
        await until(pilot, lambda: any("busy-on-image" in row.rules for row in store.rows),
                    timeout=30, what="the rule firing")
        await pilot.press("q")


async def test_the_wsscan_demo_shows_scan_jobs_marked_ws_scan(monkeypatch: Any,
                                                             tmp_path: Path) -> None:
    from dspscope.viewer.demo import ScanDemoSource
    from dspscope.viewer.widgets.job_list import JobList

    monkeypatch.setenv("DSPSCOPE_HOME", str(tmp_path))
    app = DspscopeApp(ScanDemoSource(pause=0.2))
    async with app.run_test(size=SIZE) as pilot:
        store = app.session.store
        await until(pilot, lambda: sum(j.outcome == "Completed" for j in store.jobs()) >= 2,
                    timeout=60, what="two completed scan jobs (platen, then feeder)")
        jobs = store.jobs()
        assert {j.protocol for j in jobs} == {"ws-scan"}
        assert [j.source for j in jobs[:2]] == ["Platen", "ADF"]
        assert jobs[0].images == 1 and jobs[1].images == 3
        operations = {row.operation for row in store.rows}
        assert {"GetScannerElements", "ValidateScanTicket", "CreateScanJob", "RetrieveImage",
                "GetJobElements"} <= operations
        assert not [row for row in store.rows if row.severity == "error"]
        await pilot.press("2")
        job_list = app.screen.query_one(JobList)
        await until(pilot, lambda: job_list.count >= 2, what="the jobs listed")
        assert "WS-Scan Platen" in [str(c[0]) for c in job_list.render_row(0)]
        await pilot.press("q")


@pytest.mark.parametrize("trusted", [True, False], ids=["cafile", "system-roots"])
async def test_replay_from_a_capture_trusts_what_open_was_given(tmp_path: Path, trusted: bool) -> None:
    """``dspscope open --cafile`` reaches a server with a private CA; without
    it, replay says the certificate cannot be verified."""
    from dspscope.cli.open import replay_tls
    from dspscope.viewer.sources import FlowsSource
    from tests.addons import support

    async with ScanServer("127.0.0.1", 0, tls_on=True, config_dir=tmp_path) as tls_server:
        request = build.create_post_scan_job(to=tls_server.endpoint, user="S-1-5-21-1-2-3-500",
                                             psp_id="0c6e1f6a-3b9d-4c2e-8f1a-2b3c4d5e6f70")
        recorded = support.flow(request, build.response(request, {"JobToken": support.TOKEN}))
        recorded.request.scheme, recorded.request.host = "https", "127.0.0.1"
        recorded.request.port = tls_server.port
        source = FlowsSource([recorded], "capture")
        source.replay_tls = replay_tls(tls_server.cert if trusted else None, False)
        app = DspscopeApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: len(app.session.store) == 1, what="the capture")
            await until(pilot, lambda: app.current_row() is not None, what="the exchange under the cursor")
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ReplayScreen), what="replay screen")
            if trusted:
                await until(pilot, lambda: "live  HTTP 200" in screen_text(pilot), what="replayed")
                assert len(tls_server.jobs.jobs) == 1
            else:
                await until(pilot, lambda: "cannot verify the certificate" in screen_text(pilot),
                            what="the certificate refused")
                assert tls_server.jobs.jobs == {}


def test_a_viewer_that_quits_while_the_proxy_starts_leaves_no_proxy_behind() -> None:
    """stop() while before_proxy is still running (a slow simulated server):
    the thread ends without starting a proxy, rather than bringing one up
    later, beside whatever runs next in the process."""
    import threading

    from dspscope.viewer.inbox import Inbox

    starting = threading.Event()

    class SlowStart(LiveSource):
        async def before_proxy(self) -> None:
            starting.set()
            assert self._stop is not None
            await self._stop.wait()  # still starting when the user quits

    source = SlowStart({"mode": ["reverse:http://127.0.0.1:9"], "listen_host": "127.0.0.1",
                        "listen_port": free_port()}, title="slow")
    source.start(Inbox())
    assert starting.wait(10), "before_proxy never ran"
    source.stop()
    assert source._thread is not None and not source._thread.is_alive()
    assert source.runner is None
