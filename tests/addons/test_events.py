from __future__ import annotations

import pytest
from mitmproxy import connection, exceptions, http
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import mode_specs
from mitmproxy.test import taddons

from dspscope.addons.decode import Decode
from dspscope.addons.decoded import message, state_of
from dspscope.addons.events import PREFIX, Events, parse_events, sink_address, sink_key
from dspscope.addons.metadata import METADATA_KEY
from dspscope.addons.track import Track
from dspscope.wsdsp import build, decode, encode
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


def subscription(mode: str, *, server: tuple[str, int], source: tuple[str, int] | None = None,
                 end_to: str | None = None) -> http.HTTPFlow:
    """A Subscribe on its way to ``server`` through a proxy in ``mode``; its
    server connection is open from ``source`` when that is given."""
    body = encode(build.subscribe(to=support.ENDPOINT, notify_to=SINK)).content
    if end_to:
        body = body.replace(b"</wse:Subscribe>",
                            f"<wse:EndTo><wsa:Address>{end_to}</wsa:Address></wse:EndTo></wse:Subscribe>".encode())
    f = support.flow(body, content_type="application/soap+xml; charset=utf-8")
    f.client_conn.proxy_mode = mode_specs.ProxyMode.parse(mode)
    # What mitmproxy puts there: in transparent mode, the original destination.
    f.client_conn.sockname = server if mode == "transparent" else ("10.199.1.1", 8080)
    f.server_conn = connection.Server(address=server)
    if source is not None:
        f.server_conn.state = connection.ConnectionState.OPEN
        f.server_conn.sockname = source
    return f


async def rewrite(f: http.HTTPFlow, spec: str = "5363", **options) -> Events:
    events = Events()
    with taddons.context(Proxyserver(), Decode(), events) as tctx:
        tctx.configure(events, dspscope_events=spec, **options)
        await tctx.cycle(events, f)
    return events


def notify_to(f: http.HTTPFlow) -> str:
    return message(f, "request").body["Delivery"]["NotifyTo"]["Address"]


@pytest.mark.parametrize(("mode", "server", "source", "expected"), [
    # The server is told the proxy's address on the server's side (the
    # source of the upstream connection), never the address the device
    # reached: in transparent mode that is the server's own address.
    ("reverse:https://10.199.2.2:5362", ("10.199.2.2", 5362), ("10.199.2.1", 40001), "10.199.2.1"),
    ("transparent", ("10.199.2.2", 5362), ("10.199.2.1", 40002), "10.199.2.1"),
    ("regular", ("10.199.2.2", 5362), ("10.199.2.1", 40003), "10.199.2.1"),
    ("transparent", ("fd00:199:2::2", 5362), ("fd00:199:2::1", 40004), "[fd00:199:2::1]"),
    ("regular", ("10.199.2.2", 5362), ("::ffff:10.199.2.1", 40005), "10.199.2.1"),
    # Not connected yet (connection_strategy=lazy): where the route starts.
    ("reverse:http://127.0.0.1:5362", ("127.0.0.1", 5362), None, "127.0.0.1"),
    ("transparent", ("127.0.0.1", 5362), None, "127.0.0.1"),
    ("regular", ("localhost", 5362), None, "127.0.0.1"),
])
async def test_notify_to_points_at_the_proxy_on_the_server_side(mode, server, source, expected):
    f = subscription(mode, server=server, source=source)
    events = await rewrite(f)
    assert notify_to(f) == f"http://{expected}:5363{PREFIX}{sink_key(SINK)}"
    assert events.subscriptions == 1 and events.errors == 0
    assert f.metadata[METADATA_KEY]["rewrites"][0] == {
        "side": "request", "what": "notify-to", "from": SINK, "to": notify_to(f)}


@pytest.mark.parametrize("mode", ["reverse:https://10.199.2.2:5362", "transparent", "regular"])
async def test_an_events_host_given_wins_in_every_mode(mode):
    f = subscription(mode, server=("10.199.2.2", 5362), source=("10.199.2.1", 40001))
    await rewrite(f, "https://events.example.test:9443")
    assert notify_to(f) == f"https://events.example.test:9443{PREFIX}{sink_key(SINK)}"


async def test_connect_addr_is_the_source_before_connecting():
    f = subscription("transparent", server=("10.199.2.2", 5362))
    await rewrite(f, connect_addr="10.199.2.9")
    assert notify_to(f).startswith("http://10.199.2.9:5363/")


@pytest.mark.parametrize("mode", ["reverse:https://10.199.2.2:5362", "transparent", "regular"])
async def test_end_to_is_rewritten_like_notify_to(mode):
    end = "http://10.0.0.7:9000/ended"
    f = subscription(mode, server=("10.199.2.2", 5362), source=("10.199.2.1", 40001), end_to=end)
    await rewrite(f)
    assert message(f, "request").body["EndTo"]["Address"] == \
        f"http://10.199.2.1:5363{PREFIX}{sink_key(end)}"
    assert [r["from"] for r in f.metadata[METADATA_KEY]["rewrites"]] == [SINK, end]


async def test_no_address_toward_the_server_leaves_the_subscription_alone():
    f = subscription("regular", server=("nowhere.invalid", 5362))
    before = f.request.content
    events = await rewrite(f)
    assert f.request.content == before
    assert events.errors == 1 and "--events-advertise" in state_of(f).errors[0]


async def test_a_loopback_events_host_for_a_remote_server_is_warned_about(caplog):
    f = subscription("regular", server=("10.199.2.2", 5362), source=("10.199.2.1", 40001))
    await rewrite(f, "127.0.0.1:5363")
    assert notify_to(f).startswith("http://127.0.0.1:5363/")
    assert "cannot reach" in caplog.text and "10.199.2.2" in caplog.text


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
        await events.request(f)
    # The event is not parsed again: its decode was kept for the new body.
    assert state_of(f).request_raw is f.request.raw_content
    assert f.request.url == SINK
    assert f.request.host_header == "10.0.0.7:9000"
    assert message(f, "request").to == SINK
    assert state_of(f).relayed_to == SINK
    assert events.relayed == 1
    # and what was kept is what parsing the new body gives.
    assert message(f, "request") == decode(f.request.raw_content, f.request.headers["content-type"])


async def test_a_bad_event_path_is_answered_not_forwarded():
    f = support.flow(b"<x/>")
    f.request.path = PREFIX + "garbage"
    events = Events()
    with taddons.context(events):
        await events.request(f)
    assert f.response.status_code == 404
    assert events.errors == 1


async def test_bad_option():
    events = Events()
    with taddons.context(events) as tctx:
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(events, dspscope_events="nowhere")
