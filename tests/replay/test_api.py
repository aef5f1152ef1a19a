"""The embeddable API (what the viewer calls) and the replay server's
policies, in-process against the simulated server, on the capture the proxy
recorded in conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from mitmproxy import http, io

from dspscope.cli import main
from dspscope.replay.client import ClientOptions, replay_exchange, replay_flows
from dspscope.replay.load import load_captures, recorded_flows
from dspscope.replay.server import ReplayServer
from dspscope.sim.server import ScanServer
from dspscope.wsdsp import build, decode, encode
from dspscope.wsdsp.values import new_guid
from tests.replay.conftest import Session

# Every test here reads the capture that real processes recorded (conftest).
pytestmark = pytest.mark.e2e

PLAIN = ClientOptions(ssl=False, event_wait=5.0)


def flows_of(path: Path) -> list[http.HTTPFlow]:
    with open(path, "rb") as fh:
        return [f for f in io.FlowReader(fh).stream() if isinstance(f, http.HTTPFlow)]


@pytest.fixture
async def live() -> AsyncIterator[ScanServer]:
    async with ScanServer(port=0, tls_on=False) as server:
        yield server


def test_loading_takes_kind_and_device_from_our_metadata(recorded: Session) -> None:
    capture = load_captures([str(recorded.capture)])
    assert capture.devices == ["127.0.0.1"] and len(capture.creates) == 2
    assert {e.request.operation for e in capture.events} == {
        "PostScanJobStatusEvent", "PostScanJobEndStateEvent"}
    assert all(e.device == "127.0.0.1" and e.status == 202 for e in capture.events)
    # the same flows stripped of our metadata load the same way
    bare = flows_of(recorded.capture)
    for flow in bare:
        flow.metadata.clear()
    again = recorded_flows(bare)
    assert [(r.kind, r.device, r.operation_key) for r in again] == [
        (r.kind, r.device, r.operation_key) for r in capture.items]


async def test_replay_flows_replays_one_job_against_its_endpoint(
    recorded: Session, live: ScanServer
) -> None:
    capture = load_captures([str(recorded.capture)])
    token = next(iter(capture.creates))
    job_ids = {r.id for r in capture.items if capture.job_of(r) == token}
    job = [f for f in flows_of(recorded.capture) if f.id in job_ids]
    seen: list[str] = []
    report = await replay_flows(job, live.endpoint, PLAIN,
                                on_result=lambda r: seen.append(r.recorded.operation_key))
    assert report.ok, [d.text() for r in report.results for d in r.differences]
    assert seen == ["ws-dsp:CreatePostScanJob", "ws-dsp:SendImage", "ws-dsp:SendImage",
                    "ws-dsp:EndPostScanJob"]
    created = report.results[0].live
    assert created is not None and created.job_token and created.job_token != token
    assert all(r.sent is not None and r.sent.job_token == created.job_token
               for r in report.results[1:])


async def test_replay_exchange_compares_one_answer(recorded: Session, live: ScanServer) -> None:
    flows = {f.id: f for f in flows_of(recorded.capture)}
    capture = load_captures([str(recorded.capture)])
    create = next(iter(capture.creates.values()))
    result = await replay_exchange(flows[create.id], live.endpoint, PLAIN)
    assert result.ok and result.status == 200 and result.differences == ()
    # a later request of a job, alone: the fresh server does not know its token
    image = next(r for r in capture.exchanges if r.request.operation == "SendImage")
    alone = await replay_exchange(flows[image.id], live.endpoint, PLAIN)
    assert not alone.ok and {d.kind for d in alone.differences} >= {"fault-appeared", "status"}
    event = capture.events[0]
    with pytest.raises(ValueError, match="event"):
        await replay_exchange(flows[event.id], live.endpoint, PLAIN)


async def _post(url: str, message: object) -> tuple[int, bytes, str | None]:
    encoded = encode(message)  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as session, session.post(
        url, data=encoded.content, headers={"Content-Type": encoded.content_type}
    ) as response:
        return response.status, await response.read(), response.headers.get("Content-Type")


@pytest.mark.parametrize("policy", ["fault", "404", "forward"])
async def test_unmatched_requests_get_the_chosen_answer(
    recorded: Session, live: ScanServer, policy: str
) -> None:
    capture = load_captures([str(recorded.capture)])
    forward = live.url.removesuffix("/ScanServer") if policy == "forward" else None
    async with ReplayServer(capture, port=0, tls_on=False, unmatched=policy,  # type: ignore[arg-type]
                            forward=forward) as server:
        stray = build.job_request("CancelPostScanJob", to=live.endpoint, token=new_guid())
        path = live.endpoint.split("://", 1)[1].partition("/")[2]
        status, body, content_type = await _post(f"{server.url}/{path}", stray)
        assert server.replay.unmatched == 1 and server.matched == 0
    if policy == "404":
        assert status == 404
        return
    answer = decode(body, content_type)
    assert answer.kind == "fault" and answer.relates_to == stray.message_id
    assert answer.fault and answer.fault.subcode == "OperationFailed"
    if policy == "forward":
        assert server.forwarded == 1 and "replay" not in (answer.fault.detail or "")
    else:
        assert status == 500 and "no recorded exchange" in (answer.fault.detail or "")


async def test_recorded_timing_delays_answers(recorded: Session) -> None:
    capture = load_captures([str(recorded.capture)])
    async with ReplayServer(capture, port=0, tls_on=False, timing="recorded") as server:
        probe = build.probe(to=server.url + "/ScanServer")
        status, body, content_type = await _post(server.url + "/ScanServer", probe)
    answer = decode(body, content_type)
    assert status == 200 and answer.relates_to == probe.message_id and answer.kind == "response"
    assert server.replay.used == {capture.exchanges[0].index}


@pytest.mark.parametrize("argv, message", [
    (["replay"], "say which"),
    (["replay", "server"], "at least one capture"),
    (["replay", "server", "x.mitm", "--unmatched", "forward"], "needs the server's URL"),
    (["replay", "server", "x.mitm", "--unmatched", "maybe"], "fault, 404 or forward"),
    (["replay", "server", "missing.mitm"], "missing.mitm"),
    (["replay", "client", "missing.mitm", "--to", "https://127.0.0.1:1"], "missing.mitm"),
])
def test_cli_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_takes_back_captures_given_after_unmatched(
    recorded: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    # 'notaurl' is not a URL: the client refuses it before touching the network
    assert main(["replay", "client", str(recorded.capture), "--to", "notaurl"]) == 2
    assert "--to must be an http(s)://" in capsys.readouterr().err
    from dspscope.cli.replay import _unmatched

    captures: list[str] = []
    assert _unmatched(["404", "a.mitm", "b.mitm"], captures) == ("404", None)
    assert _unmatched(["forward", "https://s:1", "c.mitm"], captures) == ("forward", "https://s:1")
    assert captures == ["a.mitm", "b.mitm", "c.mitm"]
