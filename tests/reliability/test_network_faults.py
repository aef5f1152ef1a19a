"""Peers that fail: an upstream that is down or resets connections, clients
that dribble their headers (slowloris) or vanish in the middle of an
upload.  The proxy answers what it can (502 for a dead upstream), records
what happened, and keeps serving everybody else."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import eventually, free_port
from tests.reliability import corpus
from tests.reliability.support import (
    Proxy,
    Upstream,
    count,
    many_sockets,
    post,
    raw_exchange,
    request_bytes,
)

pytestmark = pytest.mark.e2e

BODY = corpus.in_slot(corpus.TOKEN.encode())
SOAP = "application/soap+xml; charset=utf-8"


def _ok(proxy: Proxy, upstream: Upstream, tag: str) -> None:
    reply = post(proxy.port, BODY, SOAP, tag)
    assert reply.status == 200 and reply.body == BODY, reply
    assert [r.body for r in upstream.by_tag(tag)] == [BODY]


def _stopped_cleanly(proxy: Proxy) -> list[dict]:
    assert proxy.stop() == 0, proxy.stderr[-3000:]
    assert "Traceback" not in proxy.stderr
    records = proxy.records()
    assert len(records) == len(proxy.flows())
    return records


def test_upstream_down_then_back(tmp_path: Path) -> None:
    port = free_port()
    proxy = Proxy(tmp_path, f"http://127.0.0.1:{port}").started()
    try:
        for n in range(5):
            reply = post(proxy.port, BODY, SOAP, f"down{n}")
            assert reply.status == 502, reply
            count("requests while the upstream was down")
        assert proxy.alive
        with Upstream(port) as upstream:
            _ok(proxy, upstream, "back")
        records = _stopped_cleanly(proxy)
    finally:
        proxy.kill()
    down = [r for r in records if "down" in r["url"]]
    # The device got mitmproxy's 502; the record says why there was no answer.
    assert len(down) == 5 and all(r["status"] is None and r["error"] for r in down)
    assert all(r["request"]["operation"] == "CancelPostScanJob" for r in down)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Upstream]]:
    home = tmp_path_factory.mktemp("faults")
    with Upstream() as upstream:
        proxy = Proxy(home, upstream.url).started()
        try:
            yield proxy, upstream
            _stopped_cleanly(proxy)
        finally:
            proxy.kill()


@pytest.mark.parametrize("how", ["reset", "close"])
def test_upstream_resets_or_closes_without_answering(shared: tuple[Proxy, Upstream], how: str) -> None:
    proxy, upstream = shared
    for n in range(10):
        tag = f"{how}{n}"
        reply = post(proxy.port, BODY, SOAP, tag, answer=how)
        assert reply.status == 502, reply
        assert [r.body for r in upstream.by_tag(tag)] == [BODY]
        count(f"upstream {how}s instead of answering")
    assert proxy.alive
    _ok(proxy, upstream, f"after-{how}")

    def records() -> list[dict]:
        return [r for r in proxy.records() if f"={how}" in r["url"]]

    eventually(lambda: len(records()) == 10, what=f"the records of the {how}s")
    assert all(r["status"] is None and r["error"] for r in records())


def test_slowloris_clients_do_not_starve_the_others(shared: tuple[Proxy, Upstream]) -> None:
    proxy, upstream = shared
    head = request_bytes(BODY, content_type=SOAP, tag="slow")
    stop = threading.Event()

    def dribble(socks: list[socket.socket]) -> None:
        sent = 0
        while not stop.is_set() and sent < len(head) - 1:
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(head[sent : sent + 1])
            sent += 1
            stop.wait(0.05)  # paces the slow client under test; not a wait for state

    with many_sockets(proxy.port, 200) as socks:
        dribbler = threading.Thread(target=dribble, args=(socks,), daemon=True)
        dribbler.start()
        try:
            for n in range(30):
                _ok(proxy, upstream, f"beside-slow{n}")
        finally:
            stop.set()
            dribbler.join()
        count("slowloris connections held open", len(socks))
    assert proxy.alive
    assert not upstream.by_tag("slow"), "a request that never finished must not be forwarded"
    _ok(proxy, upstream, "after-slow")


def test_clients_vanishing_mid_upload(shared: tuple[Proxy, Upstream]) -> None:
    proxy, upstream = shared
    image = b"\x89PNG" + bytes(range(256)) * 8192  # 2 MB
    for n in range(20):
        tag = f"vanish{n}"
        wire = request_bytes(image, content_type="multipart/related; boundary=x", tag=tag)
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
            sock.sendall(wire[: len(wire) // (2 + n % 3)])
            if n % 2:  # half of them leave with a reset, half with a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        count("uploads abandoned half way")
    _ok(proxy, upstream, "after-vanish")
    assert not any(upstream.by_tag(f"vanish{n}") for n in range(20)), "half an upload was forwarded"

    def abandoned() -> list[dict]:
        return [r for r in proxy.records() if "?tag=vanish" in r["url"]]

    eventually(lambda: len(abandoned()) == 20, what="every abandoned upload in the JSONL")
    # mitmproxy says so, or (mitmproxy 12 after a reset) addons/abandoned.py.
    assert all(r["status"] is None and "complete" in r["error"] for r in abandoned())


def test_keep_alive_clients_after_a_fault_get_the_right_answers(shared: tuple[Proxy, Upstream]) -> None:
    """On one connection: a normal exchange, one the upstream resets, and a
    normal one again; each answer belongs to its own request."""
    proxy, upstream = shared
    first = request_bytes(BODY, content_type=SOAP, tag="ka1")
    broken = request_bytes(BODY, content_type=SOAP, tag="ka2", answer="reset")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
        for wire, status in ((first, 200), (broken, 502)):
            sock.sendall(wire)
            reply = _read_reply(sock)
            assert reply.startswith(f"HTTP/1.1 {status}".encode()), reply[:200]
    assert raw_exchange(proxy.port, request_bytes(BODY, content_type=SOAP, tag="ka3")).body == BODY
    assert [len(upstream.by_tag(t)) for t in ("ka1", "ka2", "ka3")] == [1, 1, 1]
    assert json.dumps(proxy.records())  # still readable while running


def _read_reply(sock: socket.socket) -> bytes:
    import http.client

    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    return f"HTTP/1.1 {response.status}".encode() + b"\r\n" + body
