"""The event sink every simulated receiver uses, over real loopback HTTP."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from dspscope.sim.errors import SimError
from dspscope.sim.sink import EventSink


class Recording(EventSink):
    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0, prefix="/test/events")
        self.heard: list[tuple[bytes, str | None]] = []

    def receive(self, body: bytes, content_type: str | None) -> web.Response:
        self.heard.append((body, content_type))
        return web.Response(status=202)


async def test_events_reach_receive_at_the_unguessable_path_only() -> None:
    sink = Recording()
    await sink.start()
    try:
        assert sink.url.startswith(f"http://127.0.0.1:{sink.port}/test/events/")
        async with aiohttp.ClientSession() as session:
            async with session.post(sink.url, data=b"<e/>",
                                    headers={"Content-Type": "application/soap+xml"}) as answer:
                assert answer.status == 202 and await answer.read() == b""
            async with session.post(f"http://127.0.0.1:{sink.port}/test/events/x", data=b"") as other:
                assert other.status == 404
        assert sink.heard == [(b"<e/>", "application/soap+xml")]
    finally:
        await sink.stop()


async def test_a_busy_port_is_one_line_saying_so() -> None:
    first = EventSink()
    await first.start()
    try:
        with pytest.raises(SimError, match=rf"^cannot start the event sink on 127\.0\.0\.1:{first.port} "
                                           r"\(the port is busy\)"):
            await EventSink(port=first.port).start()
    finally:
        await first.stop()
