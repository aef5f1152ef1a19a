"""The rules addon on mitmproxy test flows: each action done to the flow,
recorded in the metadata, failures leaving traffic alone, reloads and the
viewer's calls.  (Connection-level actions run for real in tests/e2e.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons

from dspscope.addons import actions as actions_module
from dspscope.addons.applyrules import ApplyRules
from dspscope.addons.decode import Decode
from dspscope.addons.decoded import message, state_of
from dspscope.addons.events import PREFIX, sink_key
from dspscope.addons.metadata import METADATA_KEY
from dspscope.addons.track import Track
from dspscope.wsdsp import AttachmentData, build, decode
from tests.addons import support

SINK = "http://10.0.0.9:9000/events"


def rule_file(tmp_path: Path, rules: str, name: str = "dspscope.rules.yaml", seed: int = 1) -> str:
    path = tmp_path / name
    path.write_text(f"seed: {seed}\nrules:\n{rules}")
    return str(path)


class Run:
    """Decode -> ApplyRules -> Track, hook by hook, as the proxy chain runs them."""

    def __init__(self, tctx: Any, faults: ApplyRules) -> None:
        self.tctx = tctx
        self.faults = faults
        self.decode = Decode()
        self.track = Track()

    async def request(self, f: http.HTTPFlow) -> None:
        await self.decode.request(f)
        await self.faults.request(f)

    async def response(self, f: http.HTTPFlow) -> None:
        await self.decode.response(f)
        await self.faults.response(f)
        self.track.response(f)

    async def through(self, f: http.HTTPFlow) -> None:
        """Both hooks of a flow that already holds the server's reply."""
        await self.request(f)
        await self.response(f)

    async def exchange(self, f: http.HTTPFlow, reply: http.Response | None) -> None:
        """The request hook, then (unless a rule answered) the server's reply."""
        await self.request(f)
        if f.response is None and reply is not None and not f.error:
            f.response = reply
        if f.response is not None and not f.error:
            await self.response(f)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """asyncio.sleep in the addon, recorded instead of waited for."""
    asked: list[float] = []

    async def fake(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(actions_module.asyncio, "sleep", fake)
    return asked


def created_flow() -> http.HTTPFlow:
    """A CreatePostScanJob exchange with the server's reply in place."""
    req = support.create()
    return support.flow(req, support.created(req))


def request_flow(msg: Any = None, **kwargs: Any) -> http.HTTPFlow:
    f = support.flow(msg if msg is not None else support.create(), **kwargs)
    f.response = None
    return f


def reply_to(f: http.HTTPFlow, msg: Any) -> http.Response:
    """The server's response carrying ``msg``, as a separate Response."""
    donor = support.flow(b"x", msg)
    assert donor.response is not None
    return donor.response


def rules_of(f: http.HTTPFlow) -> list[dict[str, Any]]:
    return list(f.metadata.get(METADATA_KEY, {}).get("rules", []))


async def running(tmp_path: Path, rules: str, **kw: Any) -> tuple[Any, ApplyRules, Run]:
    faults = ApplyRules()
    tctx = taddons.context(faults)
    ctx = tctx.__enter__()
    ctx.configure(faults, dspscope_rules=[rule_file(tmp_path, rules, **kw)])
    return tctx, faults, Run(ctx, faults)


@pytest.fixture
async def chain(tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[Any] = []

    async def start(rules: str, **kw: Any) -> tuple[ApplyRules, Run]:
        tctx, faults, run = await running(tmp_path, rules, **kw)
        made.append(tctx)
        return faults, run

    yield start
    for tctx in made:
        tctx.__exit__(None, None, None)


# ------------------------------------------------------------- answering


async def test_request_side_fault_answers_without_the_server(chain: Any) -> None:
    faults, run = await chain("  - {name: refuse, match: {operation: CreatePostScanJob, direction: request},"
                              " action: {fault: ServerErrorTemporaryError}}\n")
    f = request_flow()
    await run.request(f)
    assert f.response is not None and f.response.status_code == 500
    req = message(f, "request")
    fault = decode(f.response.content or b"", f.response.headers["content-type"], request=req)
    assert fault.fault is not None and fault.fault.subcode == "ServerErrorTemporaryError"
    assert fault.relates_to == req.message_id
    assert rules_of(f) == [{"name": "refuse", "action": "fault", "side": "request",
                            "detail": "fault ServerErrorTemporaryError"}]
    await run.response(f)  # the proxy still runs the response hook: no rule acts on our own answer
    assert len(rules_of(f)) == 1 and faults.rule_list()[0].hits == 1
    meta = f.metadata[METADATA_KEY]
    assert meta["response"]["fault"]["subcode"] == "ServerErrorTemporaryError"
    assert "original" not in meta


async def test_response_side_fault_replaces_the_reply_and_keeps_the_original(chain: Any) -> None:
    _, run = await chain("  - {name: third, match: {operation: SendImage, nth_in_job: 3},"
                         " action: {fault: ServerErrorTemporaryError}}\n")
    outcomes = []
    for n in range(1, 5):
        send = build.send_image(to=support.ENDPOINT, token=support.TOKEN, document_id=n, format="png",
                                content_id=f"p{n}@t")
        f = request_flow(send, attachments=(AttachmentData(f"p{n}@t", support.PNG),))
        await run.exchange(f, reply_to(f, build.response(send)))
        assert f.response is not None
        outcomes.append(f.response.status_code)
        if n == 3:
            meta = f.metadata[METADATA_KEY]
            assert meta["response"]["fault"]["subcode"] == "ServerErrorTemporaryError"
            assert b"SendImageResponse" in meta["original"]["response"]
            assert meta["rules"][0]["side"] == "response"
    assert outcomes == [200, 200, 500, 200]


async def test_custom_fault_and_status(chain: Any) -> None:
    _, run = await chain("""\
  - {name: custom, match: {operation: CreatePostScanJob, direction: request},
     action: {fault: {subcode: Overheated, code: Receiver, reason: Too hot, status: 503}}}
  - {name: busy, match: {operation: EndPostScanJob, direction: request},
     action: {status: {code: 503, headers: {Retry-After: 7}, body: busy}}}
""")
    f = request_flow()
    await run.request(f)
    assert f.response is not None and f.response.status_code == 503
    assert message(f, "response").fault.subcode == "Overheated"  # type: ignore[union-attr]
    g = request_flow(build.job_request("EndPostScanJob", to=support.ENDPOINT, token=support.TOKEN))
    await run.request(g)
    assert g.response is not None
    assert (g.response.status_code, g.response.headers["retry-after"], g.response.content) == (503, "7", b"busy")
    assert g.response.headers["content-length"] == "4"


async def test_delay_waits_the_drawn_time(chain: Any, sleeps: list[float]) -> None:
    _, run = await chain("  - {name: slow, match: {operation: CreatePostScanJob}, action: {delay: [1, 2]}}\n"
                         "  - {name: slower, match: {operation: CreatePostScanJob, direction: request},"
                         " action: {delay: 0.5}}\n")
    f = request_flow()
    req = support.create()
    await run.exchange(f, reply_to(f, support.created(req)))
    assert sleeps[0] == 0.5 and 1 <= sleeps[1] <= 2
    assert [r["name"] for r in rules_of(f)] == ["slower", "slow"]
    assert f.response is not None and f.response.status_code == 200


# --------------------------------------------------------------- editing


async def test_rewrite_a_request_keeps_mtom_valid(chain: Any) -> None:
    _, run = await chain("  - {name: token, match: {operation: SendImage, direction: request},"
                         " action: {rewrite: [{xpath: //dsp:JobToken, text: 00000000-0000-4000-8000-000000000000}]}}\n")
    send = build.send_image(to=support.ENDPOINT, token=support.TOKEN, document_id=1, format="png",
                            content_id="p1@t")
    image = support.PNG * 500
    f = request_flow(send, attachments=(AttachmentData("p1@t", image),))
    before = f.request.content
    await run.request(f)
    after = f.request.content
    assert after != before and f.request.headers["content-length"] == str(len(after or b""))
    msg = message(f, "request")  # decoded again: the body was replaced
    assert msg.job_token == "00000000-0000-4000-8000-000000000000"
    (attachment,) = msg.attachments
    assert attachment.referenced and bytes(attachment.data(after or b"")) == image
    assert f.metadata[METADATA_KEY]["original"]["request"] == before


async def test_rewrite_a_gzipped_response(chain: Any) -> None:
    _, run = await chain("  - {name: r, match: {operation: CreatePostScanJob},"
                         " action: {addressing: {relates_to: missing}}}\n")
    req = support.create()
    f = support.flow(req, support.created(req), gzip_response=True)
    await run.request(f)
    await run.response(f)
    assert f.response is not None and f.response.headers["content-encoding"] == "gzip"
    assert message(f, "response").relates_to is None
    assert f.metadata[METADATA_KEY]["response"]["relates_to"] is None


async def test_fault_with_damaged_addressing(chain: Any) -> None:
    _, run = await chain("  - {name: r, match: {operation: CreatePostScanJob, direction: request},"
                         " action: {fault: InvalidArgs, addressing: {relates_to: wrong}}}\n")
    f = request_flow()
    await run.request(f)
    reply = message(f, "response")
    assert reply.fault is not None and reply.relates_to != message(f, "request").message_id


async def test_malformed_response(chain: Any) -> None:
    _, run = await chain("  - {name: r, match: {operation: CreatePostScanJob}, action: {malformed: invalid-utf8}}\n")
    f = created_flow()
    await run.through(f)
    assert f.response is not None and b"\xc3\x28" in (f.response.content or b"")
    codes = [x["code"] for x in f.metadata[METADATA_KEY]["findings"]]
    assert any(code.startswith("xml.") for code in codes)


# ---------------------------------------------------------------- events


def event_flow(name: str = "PostScanJobEndStateEvent") -> http.HTTPFlow:
    ours = f"http://127.0.0.1:5363{PREFIX}{sink_key(SINK)}"
    body = {"PostScanJobEndState": {"JobToken": support.TOKEN}} if name.endswith("EndStateEvent") else {
        "JobStatus": {"JobToken": support.TOKEN}}
    f = request_flow(build.event(name, body, to=ours), client=("10.0.0.1", 5000))
    f.request.url = ours
    return f


async def test_drop_an_event(chain: Any) -> None:
    _, run = await chain("  - {name: lost, match: {operation: PostScanJobEndStateEvent, client: 10.0.0.9},"
                         " action: {drop: true}}\n")
    f = event_flow()
    await run.request(f)
    assert f.response is not None and (f.response.status_code, f.response.content) == (202, b"")
    assert rules_of(f)[0]["side"] == "event"
    await run.response(f)
    assert len(rules_of(f)) == 1 and f.metadata[METADATA_KEY]["kind"] == "event"
    kept = event_flow("PostScanJobStatusEvent")
    await run.request(kept)
    assert kept.response is None


async def test_rewrite_an_event(chain: Any) -> None:
    _, run = await chain("  - {name: e, match: {operation: PostScanJobStatusEvent},"
                         " action: {rewrite: [{xpath: //dsp:JobToken, text: 11111111-2222-4333-8444-555555555555}]}}\n")
    f = event_flow("PostScanJobStatusEvent")
    await run.request(f)
    assert f.response is None and message(f, "request").job_token == "11111111-2222-4333-8444-555555555555"
    assert "request" in f.metadata[METADATA_KEY]["original"]


# ------------------------------------------------------------- transport


async def test_close_kills_the_flow(chain: Any) -> None:
    _, run = await chain("  - {name: c, match: {operation: CreatePostScanJob}, action: {transport: close}}\n")
    f = created_flow()
    await run.through(f)
    assert f.error is not None and f.error.msg == f.error.KILLED_MESSAGE
    assert rules_of(f)[0]["action"] == "transport"


async def test_hang_until_shutdown(chain: Any) -> None:
    faults, run = await chain("  - {name: h, match: {operation: CreatePostScanJob, direction: request},"
                              " action: {transport: hang}}\n")
    f = request_flow()
    task = asyncio.create_task(run.request(f))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done() and f.response is None
    faults.done()
    await asyncio.wait_for(task, 5)
    assert f.error is not None and f.response is None


async def test_hang_released_when_the_client_leaves(chain: Any) -> None:
    faults, run = await chain("  - {name: h, match: {operation: CreatePostScanJob, direction: request},"
                              " action: {transport: hang}}\n")
    f, other = request_flow(), request_flow()
    hung = [asyncio.create_task(run.request(x)) for x in (f, other)]
    for _ in range(20):
        await asyncio.sleep(0)
    faults.client_disconnected(f.client_conn)
    await asyncio.wait_for(hung[0], 5)
    assert not hung[1].done()
    faults.done()
    await asyncio.wait_for(hung[1], 5)


async def test_truncate_promises_the_whole_body(chain: Any) -> None:
    _, run = await chain("  - {name: t, match: {operation: CreatePostScanJob}, action: {transport: {truncate: 40}}}\n")
    f = created_flow()
    assert f.response is not None
    whole = f.response.content or b""
    await run.request(f)
    await run.response(f)
    assert f.response.raw_content == whole[:40]
    assert f.response.headers["content-length"] == str(len(whole))
    assert f.response.headers["connection"] == "close"
    assert f.metadata[METADATA_KEY]["original"]["response"] == whole


async def test_connection_actions_without_a_live_connection_change_nothing(chain: Any) -> None:
    faults, run = await chain("""\
  - {name: r, match: {operation: CreatePostScanJob, direction: request}, action: {transport: reset}}
  - {name: s, match: {operation: CreatePostScanJob}, action: {transport: {throttle: 100}}}
""")
    f = created_flow()
    assert f.response is not None
    reply = f.response
    f.response = None
    await run.exchange(f, reply)
    assert f.error is None and f.response is reply and f.response.status_code == 200
    recorded = rules_of(f)
    assert [r["name"] for r in recorded] == ["r", "s"] and all("connection" in r["error"] for r in recorded)
    assert faults.failures == 2


# ------------------------------------------------------------- failures


async def test_a_failing_rule_leaves_the_exchange_alone(chain: Any) -> None:
    _, run = await chain("""\
  - {name: breaks, match: {direction: response}, action: {rewrite: [{xpath: /soap:Envelope, remove: true}]}}
  - {name: works, match: {direction: response}, action: {addressing: {relates_to: missing}}}
""")
    f = created_flow()
    await run.through(f)
    breaks, works = rules_of(f)
    assert breaks["error"] == "cannot remove the root element" and "error" not in works
    assert message(f, "response").relates_to is None  # the next rule still ran


async def test_a_body_that_is_not_xml_passes_untouched(chain: Any) -> None:
    _, run = await chain("  - {name: m, match: {direction: response}, action: {malformed: unclosed}}\n")
    f = support.flow(b"GET me", b"<html>not xml", content_type="text/plain")
    assert f.response is not None
    f.response.headers["content-type"] = "text/html"
    before = f.response.get_state()
    await run.request(f)
    await run.response(f)
    assert f.response.get_state() == before
    assert "not well-formed XML" in rules_of(f)[0]["error"]


# --------------------------------------------------------- files, viewer


async def test_no_rules_no_work(chain: Any) -> None:
    _, run = await chain("  []\n")
    f = request_flow()
    await run.request(f)
    assert f.response is None and METADATA_KEY not in f.metadata


def test_a_bad_file_at_start_is_an_option_error(tmp_path: Path) -> None:
    faults = ApplyRules()
    with taddons.context(faults) as tctx:
        with pytest.raises(exceptions.OptionsError, match=r"rules.yaml:3: rule 'x': fault: unknown subcode"):
            tctx.configure(faults, dspscope_rules=[rule_file(
                tmp_path, "  - {name: x, match: {nth: 1}, action: {fault: Nope}}\n")])


def test_viewer_api(tmp_path: Path) -> None:
    path = rule_file(tmp_path, "  - {name: a, description: first, match: {nth: 1}, action: {delay: 1}}\n")
    faults = ApplyRules()
    with taddons.context(faults) as tctx:
        tctx.configure(faults, dspscope_rules=[path])
        assert faults.rule_list() == [("a", True, 0, "first")]
        assert faults.set_enabled("a", False) and faults.rule_list()[0].enabled is False
        assert not faults.set_enabled("zzz", True)
        assert "busy-server" in [p.name for p in faults.presets()]
        faults.load_preset("busy-server")
        names = [r.name for r in faults.rule_list()]
        assert names[0] == "a" and "busy-on-image" in names
        faults.load_preset("busy-server")  # twice: loaded once
        assert [r.name for r in faults.rule_list()] == names
        with pytest.raises(ValueError, match="no preset"):
            faults.load_preset("nope")
        assert faults.reload() == {}
        assert faults.rule_list()[0].enabled is False  # a reload of the same file keeps the switch


async def test_metadata_survives_tracking(chain: Any) -> None:
    _, run = await chain("  - {name: r, match: {operation: CreatePostScanJob}, action: {delay: 0}}\n")
    f = created_flow()
    await run.through(f)
    meta = f.metadata[METADATA_KEY]
    assert meta["operation"] == "CreatePostScanJob" and meta["rules"][0]["name"] == "r"
    assert state_of(f).errors == []


async def test_streamed_bodies_are_left_alone(chain: Any) -> None:
    _, run = await chain("  - {name: r, match: {operation: CreatePostScanJob}, action: {fault: InvalidArgs}}\n"
                         "  - {name: q, match: {direction: request}, action: {fault: InvalidArgs}}\n")
    f = created_flow()
    assert f.response is not None
    f.request.stream = True
    f.response.stream = True
    before = f.response.get_state()
    await run.through(f)
    assert f.response.get_state() == before and rules_of(f) == []


async def test_a_rule_that_fails_part_way_changes_nothing(chain: Any, sleeps: list[float]) -> None:
    _, run = await chain("  - {name: half, match: {operation: CreatePostScanJob}, action: {delay: 3, fault: InvalidArgs,"
                         " rewrite: [{xpath: /soap:Envelope, remove: true}]}}\n")
    f = created_flow()
    assert f.response is not None
    before = f.response.get_state()
    await run.through(f)
    assert f.response.get_state() == before and sleeps == []
    assert rules_of(f)[0]["error"] == "cannot remove the root element"


async def test_an_event_answered_with_a_fault_is_not_forwarded(chain: Any) -> None:
    _, run = await chain("  - {name: refuse, match: {operation: PostScanJobStatusEvent}, action: {fault: InvalidArgs}}\n")
    f = event_flow("PostScanJobStatusEvent")
    await run.request(f)
    assert f.response is not None and f.response.status_code == 400
    assert message(f, "response").relates_to == message(f, "request").message_id
    assert rules_of(f)[0]["side"] == "event"
