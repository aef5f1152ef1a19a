from __future__ import annotations

import logging

import pytest
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow

from dspscope.addons.transparent import MITM_LISTENERS, TransparentCheck, is_local, worth_telling


def client(mode: str, original: tuple[str, int]):
    c = tflow.tclient_conn()
    c.proxy_mode = ProxyMode.parse(mode)
    c.sockname = original  # what mitmproxy puts there in transparent mode
    return c


def test_worth_telling():
    assert [n for n in range(1, 1001) if worth_telling(n)] == [1, 10, 100, 1000]


def test_is_local():
    assert is_local("127.0.0.1")
    assert not is_local("192.0.2.1")  # TEST-NET-1: never an address of this machine


@pytest.mark.parametrize(("mode", "original", "refused"), [
    ("transparent", ("127.0.0.1", 8080), True),    # straight to the proxy's port
    ("transparent", ("192.0.2.10", 5362), False),  # redirected: the server's address
    ("transparent", ("127.0.0.1", 5362), False),   # a local server on another port
    ("regular", ("127.0.0.1", 8080), False),
])
async def test_connections_that_were_not_redirected_are_refused(mode, original, refused, caplog):
    check = TransparentCheck()
    with taddons.context(check) as tctx:
        tctx.configure(check, listen_port=8080)
        c = client(mode, original)
        check.client_connected(c)
    assert bool(c.error) is refused
    assert check.unredirected == int(refused)
    assert ("not redirected" in caplog.text) is refused


async def test_an_unreadable_destination_gets_a_hint():
    check = TransparentCheck()
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append((record.levelno, record.getMessage()))

    mitm = logging.getLogger(MITM_LISTENERS)
    keep = Keep()
    mitm.addHandler(keep)
    try:
        with taddons.context(check):
            check.running()
            for _ in range(10):
                mitm.error("Transparent mode failure: %r", OSError(2, "No such file or directory"))
            mitm.error("something else")
            check.done()
            mitm.error("Transparent mode failure: after")
    finally:
        mitm.removeHandler(keep)
    assert check.unreadable == 10
    hinted = [text for level, text in seen if "NAT rule" in text]
    assert len(hinted) == 2 and "(1 so far)" in hinted[0] and "(10 so far)" in hinted[1]
    assert (logging.ERROR, "something else") in seen
    assert seen[-1] == (logging.ERROR, "Transparent mode failure: after")
