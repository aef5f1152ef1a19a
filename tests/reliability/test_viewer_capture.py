"""A capture full of markup and terminal-control injections, written by the
real proxy from hostile traffic, opened in the viewer (a pilot test).

tests/viewer/test_hostile.py puts hostile strings into flows made in
memory; here they arrive the way an attacker would send them, in every
place the wire lets them through (URL, headers, XML text and attributes,
fault texts, MIME part headers, bodies that are not XML, lines of 200 KB),
and the viewer reads them from the file.  Every row, every detail tab:
shown literally, no raw control character on the screen, no action fired,
no crash.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pytest

from dspscope.wsdsp import AttachmentData, build, encode
from tests.reliability import corpus
from tests.reliability.support import Proxy, Upstream, count, post, raw_exchange, request_bytes
from tests.viewer.hostile import ALL_IN_ONE, HOSTILE, RAW_CONTROLS
from tests.viewer.pilot import detail_drawn, until

pytestmark = pytest.mark.e2e

SIZE = (120, 36)
#: What may go into XML text (XML 1.0 has no C0 controls but tab, CR, LF).
XML_SAFE = "".join(c for c in ALL_IN_ONE if c >= " " or c in "\t\r\n")
MARKUP = "[@click=app.quit]x[/] [bold red]b[/] [link=https://evil.example]l[/link] \u202eevil\u202c"


def _bodies() -> list[tuple[bytes, str, tuple[tuple[str, str], ...], str]]:
    """(body, content type, extra headers, path) of each hostile request."""
    create = build.create_post_scan_job(to=corpus.SERVER + "/" + MARKUP, user=XML_SAFE, psp_id=MARKUP,
                                        document_root=XML_SAFE, filters=[build.fileshare_filter(*HOSTILE[:4])])
    fault = build.fault(create, "InvalidArgs", XML_SAFE, reason=XML_SAFE)
    send = build.send_image(to=corpus.SERVER, token=corpus.TOKEN, document_id=1, format=MARKUP,
                            content_id=MARKUP)
    mtom = encode(send, (AttachmentData(MARKUP, corpus.PNG, "image/png; name=" + MARKUP.encode(
        "ascii", "backslashreplace").decode()),))
    soap = "application/soap+xml; charset=utf-8"
    out = [
        (encode(create).content, soap, (), "/ScanServer"),
        (encode(fault).content, soap, (), "/ScanServer"),
        (mtom.content, mtom.content_type, (), "/ScanServer"),
        (ALL_IN_ONE.encode(), "text/plain", (), "/ScanServer"),
        (ALL_IN_ONE.encode("utf-16"), soap, (), "/ScanServer"),
        (corpus.in_slot(ALL_IN_ONE.encode()), soap, (), "/ScanServer"),  # controls inside XML: malformed
        (corpus.in_slot(("x" * 200_000).encode()), soap, (), "/ScanServer"),
        (b"\x1b]0;evil\x07" * 30_000, "application/octet-stream", (), "/ScanServer"),
        (encode(create).content, soap, (("X-Hostile", MARKUP.encode("utf-8").decode("latin-1")),
                                        ("X-Markup", "[@click=app.quit]x[/]")),
         "/ScanServer/%1B%5B2J%1B%5D0%3Bevil%07/[@click=app.quit]x[/]?q=%E2%80%AE"),
    ]
    return out


@pytest.fixture(scope="module")
def hostile_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("viewer-capture")
    with Upstream() as upstream:
        proxy = Proxy(home, upstream.url).started()
        try:
            for n, (body, ctype, headers, path) in enumerate(_bodies()):
                reply = post(proxy.port, body, ctype, f"v{n}", path=path, extra=headers)
                assert reply.status == 200 and reply.body == body, n
            # Header values with raw terminal controls (may be refused; then
            # the refusal is what the capture holds).
            wire = request_bytes(b"x", content_type="text/plain", tag="raw-controls",
                                 extra=(("X-Raw", "\x1b]0;evil\x07\x1b[2J"),))
            raw_exchange(proxy.port, wire, timeout=30)
            assert proxy.stop() == 0
        finally:
            proxy.kill()
    count("hostile exchanges in the capture opened by the viewer", len(proxy.flows()))
    return proxy.capture


def _raw_screen(pilot: Any) -> str:
    strips = pilot.app.screen._compositor.render_strips()  # noqa: SLF001
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def _clean(pilot: Any) -> str:
    shown = _raw_screen(pilot)
    for raw in RAW_CONTROLS:
        assert raw not in shown, repr(raw)
    return shown


async def test_a_hostile_capture_opens_and_shows_everything_literally(hostile_capture: Path) -> None:
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.sources import CaptureSource
    from dspscope.viewer.widgets.detail import TABS

    with _utc():
        app = DspscopeApp(CaptureSource([hostile_capture]))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: len(app.session.store) >= len(_bodies()), what="rows")
            await until(pilot, lambda: app.main.exchanges.count == len(app.session.store),
                        what="rows shown")
            await detail_drawn(pilot)
            _clean(pilot)
            rows = len(app.session.store)
            markup_seen = False
            for position in range(rows):
                app.main.exchanges.cursor = position
                await detail_drawn(pilot)
                for tab in TABS:
                    app.main.detail.query_one("#detail-tabs").active = tab
                    await until(pilot, lambda tab=tab: app.main.detail.active == tab,
                                what=f"the {tab} tab")
                    await pilot.pause()
                    shown = _clean(pilot)
                    markup_seen |= "[@click=app.quit]x[/]" in shown
                    count("viewer: detail tabs shown for hostile rows")
            assert markup_seen, "the markup must be shown as text"
            for y in range(3, 20):
                await pilot.click(offset=(60, y))
            for view in ("2", "3", "4", "1"):
                await pilot.press(view)
                await pilot.pause()
                _clean(pilot)
            await pilot.pause()
            assert app.is_running and app.return_code is None


@contextlib.contextmanager
def _utc() -> Any:
    import time

    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


async def test_a_compression_bomb_in_a_capture_does_not_fill_the_viewers_memory(tmp_path: Path) -> None:
    """128 KB of gzip that inflates to 128 MB, opened in the XML tab."""
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.sources import CaptureSource
    from tests.reliability.support import rss_bytes

    bomb = corpus._gzip_bomb(128 << 20)  # noqa: SLF001
    with Upstream() as upstream:
        proxy = Proxy(tmp_path, upstream.url).started()
        try:
            reply = post(proxy.port, bomb, "application/soap+xml", "bomb",
                         extra=(("Content-Encoding", "gzip"),))
            assert reply.status == 200
            assert proxy.stop() == 0
        finally:
            proxy.kill()
    with _utc():
        app = DspscopeApp(CaptureSource([proxy.capture]))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: len(app.session.store) == 1, what="the row")
            before = rss_bytes(os.getpid())
            for tab in ("decoded", "xml", "attachments", "diff"):
                app.main.detail.query_one("#detail-tabs").active = tab
                await until(pilot, lambda tab=tab: app.main.detail.active == tab,
                            what=f"the {tab} tab")
                await pilot.pause()  # drawn: the tab's content is made when it opens
            grown = rss_bytes(os.getpid()) - before
            assert app.is_running
    # Inflating the bomb whole would take 128 MB; the viewer undoes the
    # encoding only within the proxy's 64 MB bound, plus what the interpreter
    # keeps around it (64.3 MB was seen on Python 3.12).
    assert grown < 100 << 20, grown >> 20
