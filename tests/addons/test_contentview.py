from __future__ import annotations

from mitmproxy import contentviews
from mitmproxy.test import taddons, tflow

from dspscope.addons.contentview import NAME, ContentView, priority, render
from dspscope.addons.track import Track
from dspscope.wsdsp import build
from tests.addons import support


def pretty(flow, message):
    """The text mitmproxy shows for ``message`` in its automatic view."""
    if hasattr(contentviews, "prettify_message"):  # mitmproxy 12
        result = contentviews.prettify_message(message, flow)
        return result.view_name, result.text
    description, lines, _ = contentviews.get_message_content_view("auto", message, flow)
    return description, "\n".join("".join(text for _, text in line) for line in lines)


def test_render():
    req = support.create()
    lines = render(req.to_json())
    assert lines[0] == (f"{NAME}: ", "ws-dsp request CreatePostScanJob")
    text = "\n".join(a + b for a, b in lines)
    assert f"UserIdentifier: {support.USER}" in text
    assert "findings: none" in text


async def test_registered_and_chosen_for_soap_in_stock_mitmproxy():
    view = ContentView()
    req = support.create()
    fault = build.fault(req, "InvalidArgs", "PSP_Identifier")
    f = support.flow(req, fault)
    with taddons.context(view, Track()) as tctx:
        tctx.master.addons.get("dspscope_track").response(f)
        name, text = pretty(f, f.response)
        assert name == NAME
        assert "ws-dsp fault CreatePostScanJob" in text
        assert "subcode: InvalidArgs" in text
        plain = tflow.tflow(resp=True)
        plain.response.headers["content-type"] = "text/html"
        assert pretty(plain, plain.response)[0] != NAME
    # Loading twice (a script reload) must not fail.
    with taddons.context(ContentView()):
        pass


def test_priority_without_metadata():
    body = support._body(support.create(), (), None)[0]
    assert priority(body, "application/soap+xml", None, None) > 1
    assert priority(b"<html/>", "text/html", None, None) == 0
