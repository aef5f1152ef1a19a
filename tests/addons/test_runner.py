from __future__ import annotations

import asyncio
import errno
import gc
import logging
import socket

import aiohttp
import pytest
from aiohttp import web
from mitmproxy import http

from dspscope.addons.metadata import METADATA_KEY
from dspscope.addons.runner import ProxyRunner, StartupError
from tests.helpers import free_port


def can_bind(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
async def upstream():
    async def hello(request):
        return web.Response(body=b"hello " + await request.read())

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_start_serve_stop(upstream, tmp_path):
    port = free_port()
    seen = []

    class Spy:
        def response(self, flow):
            seen.append(flow)

    runner = ProxyRunner({"mode": [f"reverse:{upstream}"], "listen_host": "127.0.0.1",
                          "listen_port": port, "confdir": str(tmp_path)}, sets=["dspscope_job_idle=60"])
    runner.addons.append(Spy())
    await runner.start()
    assert runner.listen_addrs == [("127.0.0.1", port)]
    assert runner.master.options.dspscope_job_idle == 60
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/x", data=b"there") as response:
            assert await response.read() == b"hello there"
    await runner.stop()
    await runner.stop()
    assert seen and seen[0].metadata[METADATA_KEY]["protocol"] == "not-soap"
    assert can_bind(port)


async def test_busy_port_is_one_line_and_nothing_stays_open(upstream, tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    other = free_port()
    runner = ProxyRunner({"mode": [f"reverse:{upstream}@{other}", f"reverse:{upstream}@{port}"],
                          "listen_host": "127.0.0.1", "confdir": str(tmp_path)})
    try:
        with pytest.raises(StartupError) as err:
            await runner.start()
    finally:
        busy.close()
    assert str(err.value) == f"cannot listen on 127.0.0.1:{port}: address already in use"
    assert err.value.errno == errno.EADDRINUSE and err.value.address == ("127.0.0.1", port)
    assert can_bind(other)


@pytest.mark.parametrize(("options", "match"), [
    ({"dspscope_rotate_time": "soon"}, "not a duration"),
    ({"no_such_option": 1}, "no_such_option"),
    ({"mode": ["nonsense:x"]}, "nonsense"),
])
async def test_bad_options(options, match, tmp_path):
    runner = ProxyRunner({"confdir": str(tmp_path), "listen_port": free_port(), **options})
    with pytest.raises(StartupError, match=match):
        await runner.start()


async def test_nothing_keeps_flows(upstream, tmp_path):
    runner = ProxyRunner({"mode": [f"reverse:{upstream}"], "listen_host": "127.0.0.1",
                          "listen_port": free_port(), "confdir": str(tmp_path),
                          "dspscope_save": str(tmp_path / "c.mitm")})
    await runner.start()
    port = runner.listen_addrs[0][1]
    async with aiohttp.ClientSession() as session:
        for n in range(40):
            async with session.post(f"http://127.0.0.1:{port}/{n}", data=b"x" * 10_000) as response:
                await response.read()
        gc.collect()
        target = int(upstream.rpartition(":")[2])
        alive = [o for o in gc.get_objects()
                 if isinstance(o, http.HTTPFlow) and o.request.port == target]
        assert len(alive) <= 2, "flows are kept after they were written"
    await runner.stop()
    assert runner.track.exchanges == 40


async def test_stop_from_another_task(upstream, tmp_path, capsys):
    runner = ProxyRunner({"mode": [f"reverse:{upstream}"], "listen_host": "127.0.0.1",
                          "listen_port": free_port(), "confdir": str(tmp_path)}, log_level=None)
    await runner.start()
    waiting = asyncio.create_task(runner.wait())
    logging.getLogger("test").warning("not for the terminal")
    await runner.stop()
    await asyncio.wait_for(waiting, 5)
    assert capsys.readouterr().err == ""
