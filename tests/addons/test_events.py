from __future__ import annotations

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from dspscope.addons.decode import Decode
from dspscope.addons.decoded import message, state_of
from dspscope.addons.events import PREFIX, Events, parse_events, sink_address, sink_key
from dspscope.addons.metadata import METADATA_KEY
from dspscope.addons.track import Track
from dspscope.wsdsp import build
from tests.addons import support

SINK = "http://10.0.0.7:9000/events/abc?x=1"


def test_sink_key_round_trip():
    assert sink_address(sink_key(SINK)) == SINK
    assert sink_address("not base64!") is None
    assert sink_address(sink_key("file:///etc/passwd")) is None


@pytest.mark.parametrize(("spec", "parsed"), [
    ("5363", (None, None, 5363)),
    ("10.0.0.1:5363", (None, "10.0.0.1", 5363)),
    ("[::1]:5363", (None, "::1", 5363)),
    ("https://proxy.example:5363", ("https", "proxy.example", 5363)),
])
def test_parse_events(spec, parsed):
    assert parse_events(spec) == parsed


@pytest.mark.parametrize("spec", ["", "x", "ftp://a:1", "http://a", "70000"])
def test_parse_events_rejects(spec):
    with pytest.raises(ValueError):
        parse_events(spec)


async def test_subscribe_notify_to_points_at_the_proxy():
    events = Events()
    sub = build.subscribe(to=support.ENDPOINT, notify_to=SINK)
    f = support.flow(sub, reverse=support.SERVER)
    with taddons.context(Decode(), events) as tctx:
        tctx.configure(events, dspscope_events="5363")
        await tctx.cycle(events, f)
    notify = message(f, "request").body["Delivery"]["NotifyTo"]["Address"]
    assert notify == f"http://127.0.0.1:5363{PREFIX}{sink_key(SINK)}"
    assert events.subscriptions == 1
    assert f.metadata[METADATA_KEY]["rewrites"][0]["from"] == SINK


async def test_subscriptions_pass_unchanged_when_off():
    sub = build.subscribe(to=support.ENDPOINT, notify_to=SINK)
    f = support.flow(sub)
    state = f.get_state()
    with taddons.context(Decode(), Events()) as tctx:
        await tctx.cycle(tctx.master.addons.get("dspscope_events"), f)
    assert f.get_state() == state


async def test_events_are_relayed_to_the_real_sink():
    ours = f"http://127.0.0.1:5363{PREFIX}{sink_key(SINK)}"
    status = {"JobToken": support.TOKEN, "JobState": "Processing"}
    f = support.flow(build.event("PostScanJobStatusEvent", {"JobStatus": status}, to=ours))
    f.request.url = ours
    events = Events()
    with taddons.context(Decode(), events, Track()):
        events.request(f)
    assert f.request.url == SINK
    assert f.request.host_header == "10.0.0.7:9000"
    assert message(f, "request").to == SINK
    assert state_of(f).relayed_to == SINK
    assert events.relayed == 1


async def test_a_bad_event_path_is_answered_not_forwarded():
    f = support.flow(b"<x/>")
    f.request.path = PREFIX + "garbage"
    events = Events()
    with taddons.context(events):
        events.request(f)
    assert f.response.status_code == 404
    assert events.errors == 1


async def test_bad_option():
    events = Events()
    with taddons.context(events) as tctx:
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(events, dspscope_events="nowhere")
