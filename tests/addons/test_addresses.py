from __future__ import annotations

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons

from dspscope.addons.addresses import Addresses, advertised, origin_key, substitute
from dspscope.addons.decode import Decode
from dspscope.addons.decoded import message
from dspscope.addons.metadata import METADATA_KEY
from dspscope.wsdsp import AttachmentData, build, encode
from tests.addons import support

UPSTREAM = "https://10.0.0.5:5362"
PROXY = "https://127.0.0.1:8443"


@pytest.mark.parametrize(("body", "expected"), [
    (b"<a>http://s/x</a>", b"<a>http://p/x</a>"),
    (b"<a> http://s/x </a>", b"<a> http://p/x </a>"),
    (b"<a>http://s/x http://s/x/y</a>", b"<a>http://p/x http://s/x/y</a>"),
    (b"<a>http://s/x/y</a>", None),
    (b"<a>xhttp://s/x</a>", None),
    (b"<a>http://s/x&amp;q=1</a>", None),
])
def test_substitute_whole_addresses_only(body, expected):
    assert substitute(body, {"http://s/x": "http://p/x"}) == expected


def test_substitute_escapes_and_refuses_utf16():
    assert substitute(b"<a>http://s/?a=1&amp;b=2</a>", {"http://s/?a=1&b=2": "http://p/?a&b"}) == \
        b"<a>http://p/?a&amp;b</a>"
    assert substitute("<a>http://s/x</a>".encode("utf-16"), {"http://s/x": "http://p/x"}) is None


def test_substitute_in_mtom_rewrites_the_root_part_only():
    to = "http://s/x"
    request = build.send_image(to=to, token=support.TOKEN, document_id=1, format="png",
                               content_id="p1@d")
    image = b"\x89PNG <a>http://s/x</a> " * 100  # the address inside the image stays as it is
    encoded = encode(request, (AttachmentData("p1@d", image),))
    changed = substitute(encoded.content, {to: "http://p/x"}, encoded.content_type)
    assert changed is not None
    assert changed.count(b">http://p/x<") == 1 and changed.endswith(encoded.content[-len(image) - 60:])
    assert image in changed
    assert substitute(encoded.content, {"http://q/y": "http://p/x"}, encoded.content_type) is None


def test_advertised_addresses():
    fields = {"ProbeMatches": {"ProbeMatch": [{"EndpointReference": {"Address": "urn:uuid:1"},
                                               "XAddrs": "https://a/1 http://b/2 soap.udp://c"}]}}
    assert list(advertised(fields)) == ["https://a/1", "http://b/2"]


def test_origin_key_fills_default_ports():
    assert origin_key("https://Host/x") == origin_key("https://host:443/y")


def reverse_flow(request, response):
    return support.flow(request, response, reverse=UPSTREAM)


async def run(flow, addon=None):
    addon = addon or Addresses()
    with taddons.context(Decode(), addon) as tctx:
        await tctx.cycle(addon, flow)
    return addon


async def test_probe_matches_xaddrs_point_at_the_proxy():
    probe = build.probe(to=f"{PROXY}/ScanServer")
    f = reverse_flow(probe, build.probe_matches(probe, xaddrs=f"{support.SERVER}/ScanServer"))
    before = f.response.content
    addon = await run(f)
    got = message(f, "response")
    assert got.body["ProbeMatch"]["XAddrs"] == f"{PROXY}/ScanServer"
    assert len(f.response.content) == len(before) - len(support.SERVER) + len(PROXY)
    assert f.response.headers["content-length"] == str(len(f.response.content))
    assert addon.back[f"{PROXY}/ScanServer"] == f"{support.SERVER}/ScanServer"
    assert f.metadata[METADATA_KEY]["rewrites"] == [
        {"side": "response", "what": "address", "from": f"{support.SERVER}/ScanServer",
         "to": f"{PROXY}/ScanServer"}]


async def test_hosted_and_subscription_manager_addresses():
    get = build.transfer_get(to=f"{PROXY}/ScanServer")
    f = reverse_flow(get, build.transfer_get_response(get, hosted_address=support.ENDPOINT,
                                                      service_id="urn:uuid:1"))
    await run(f)
    hosted = message(f, "response").fields["Metadata"]["MetadataSection"][1]["Relationship"]["Hosted"]
    assert hosted["EndpointReference"]["Address"] == support.ENDPOINT.replace(support.SERVER, PROXY)

    sub = build.subscribe(to=support.ENDPOINT, notify_to="http://10.0.0.7:9000/e")
    f = reverse_flow(sub, build.subscribe_response(sub, manager=support.ENDPOINT, identifier="urn:uuid:2",
                                                   expires="PT1H"))
    await run(f)
    manager = message(f, "response").body["SubscriptionManager"]["Address"]
    assert manager == support.ENDPOINT.replace(support.SERVER, PROXY)


async def test_requests_to_the_proxy_address_are_mapped_back():
    addon = Addresses()
    get = build.transfer_get(to=f"{PROXY}/ScanServer")
    f = reverse_flow(get, build.transfer_get_response(get, hosted_address=support.ENDPOINT,
                                                      service_id="urn:uuid:1"))
    await run(f, addon)
    ours = support.ENDPOINT.replace(support.SERVER, PROXY)
    f = reverse_flow(support.create(to=ours), None)
    await run(f, addon)
    assert message(f, "request").to == support.ENDPOINT
    # Not learned (e.g. after a restart): the reverse target stands in.
    f = reverse_flow(build.probe(to=f"{PROXY}/ScanServer"), None)
    await run(f, Addresses())
    assert message(f, "request").to == f"{UPSTREAM}/ScanServer"


async def test_other_modes_and_other_traffic_are_left_alone():
    probe = build.probe(to=f"{PROXY}/ScanServer")
    f = support.flow(probe, build.probe_matches(probe, xaddrs=f"{support.SERVER}/ScanServer"))
    state = f.get_state()
    await run(f)
    assert f.get_state() == state
    f = reverse_flow(b"<html>" + support.SERVER.encode() + b"</html>", b"<p>" + support.SERVER.encode() + b"</p>")
    state = f.get_state()
    await run(f)
    assert f.get_state() == state


@pytest.mark.parametrize("mode", ["transparent", "regular"])
async def test_in_the_path_devices_keep_the_servers_addresses(mode):
    """Transparent and regular modes: the device already sends everything
    through the proxy, to the server's own addresses, so none is rewritten
    either way (only the events listener is the proxy's, see Events)."""
    server = support.SERVER
    for exchange in [
        (build.probe(to=f"{server}/ScanServer"), "probe_matches"),
        (build.transfer_get(to=f"{server}/ScanServer"), "transfer_get_response"),
        (build.subscribe(to=support.ENDPOINT, notify_to="http://10.0.0.7:9000/e"), "subscribe_response"),
        (support.create(), None),
    ]:
        request, answer = exchange
        response = {
            "probe_matches": lambda r: build.probe_matches(r, xaddrs=f"{server}/ScanServer"),
            "transfer_get_response": lambda r: build.transfer_get_response(
                r, hosted_address=support.ENDPOINT, service_id="urn:uuid:1"),
            "subscribe_response": lambda r: build.subscribe_response(
                r, manager=support.ENDPOINT, identifier="urn:uuid:2", expires="PT1H"),
            None: support.created,
        }[answer](request)
        f = support.flow(request, response)
        f.client_conn.proxy_mode = ProxyMode.parse(mode)
        f.client_conn.sockname = ("10.0.0.5", 5362) if mode == "transparent" else ("10.0.0.1", 8080)
        state = f.get_state()
        addon = await run(f)
        assert f.get_state() == state and addon.back == {}


async def test_advertise_option_and_switch():
    probe = build.probe(to=f"{PROXY}/ScanServer")
    addon = Addresses()
    with taddons.context(Decode(), addon) as tctx:
        tctx.configure(addon, dspscope_advertise="https://proxy.example:5362")
        f = reverse_flow(probe, build.probe_matches(probe, xaddrs=f"{support.SERVER}/ScanServer"))
        await tctx.cycle(addon, f)
        assert message(f, "response").body["ProbeMatch"]["XAddrs"] == "https://proxy.example:5362/ScanServer"
        tctx.configure(addon, dspscope_rewrite_addresses=False)
        f = reverse_flow(probe, build.probe_matches(probe, xaddrs=f"{support.SERVER}/ScanServer"))
        await tctx.cycle(addon, f)
        assert message(f, "response").body["ProbeMatch"]["XAddrs"] == f"{support.SERVER}/ScanServer"
        with pytest.raises(Exception, match="dspscope_advertise"):
            tctx.configure(addon, dspscope_advertise="proxy:1")


async def test_a_mapped_back_upload_is_not_decoded_again(monkeypatch):
    from dspscope.addons import decoded as decode_cache

    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
    ours = support.ENDPOINT.replace(support.SERVER, PROXY)
    req = build.send_image(to=ours, token=support.TOKEN, document_id=1, format="png",
                           content_id="p1@d")
    f = support.flow(req, None, attachments=(AttachmentData("p1@d", image),), reverse=UPSTREAM)
    message(f, "request")  # decoded on arrival, as the Decode addon does
    calls = []
    real = decode_cache.decode
    monkeypatch.setattr(decode_cache, "decode", lambda *a, **k: calls.append(a) or real(*a, **k))
    await run(f)
    got = message(f, "request")
    assert calls == [] and got.to == ours.replace(PROXY, UPSTREAM)  # the reverse target
    (attachment,) = got.attachments
    assert bytes(attachment.data(f.request.raw_content)) == image
