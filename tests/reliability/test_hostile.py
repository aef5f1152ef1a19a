"""Hostile bodies through the running proxy.

One ``dspscope proxy`` process (reverse mode) sits in front of an upstream
that records every body it receives and echoes it back.  For every hostile
body: the upstream got exactly the bytes the device sent, the device got
exactly the bytes the upstream answered, the capture and the JSONL hold the
exchange decoded as far as it goes (with findings for the rest), and the
proxy is still up.  At the end: nothing read /etc/passwd, nothing contacted
the address the external entities point at, every line of the JSONL is
JSON, and the capture and the JSONL count the same exchanges.

Set DSPSCOPE_SOAK=1 for the full 100 MB whitespace body and ten times the
generated examples.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import eventually
from tests.reliability import corpus
from tests.reliability.support import (
    Listener,
    Proxy,
    Upstream,
    count,
    post,
    raw_exchange,
    request_bytes,
)

pytestmark = pytest.mark.e2e

SOAK = bool(os.environ.get("DSPSCOPE_SOAK"))
EXAMPLES = 300 if SOAK else 30


class Rig:
    """The proxy, its upstream, the XXE target, and a ledger of what was sent."""

    def __init__(self, home: Path, upstream: Upstream, listener: Listener) -> None:
        self.home = home
        self.upstream = upstream
        self.listener = listener
        self.proxy = Proxy(home, upstream.url).started()
        self.sent: list[str] = []
        self._tags = itertools.count(1)

    def tag(self) -> str:
        return f"h{next(self._tags)}"

    def record(self, tag: str) -> dict[str, Any]:
        """The exchange's JSONL record; large records (and those queued
        behind them) are written beside the event loop, so it may come
        just after the answer."""
        found: list[dict[str, Any]] = []

        def written() -> bool:
            found[:] = [r for r in self.proxy.records() if r["url"].endswith(f"tag={tag}")]
            return bool(found)

        eventually(written, what=f"the record of {tag}")
        assert len(found) == 1, (tag, found)
        return found[0]

    def exchange(self, body: bytes, content_type: str | None,
                 headers: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
        """Send one well-framed POST; check it crossed both ways unchanged;
        return its JSONL record."""
        tag = self.tag()
        self.sent.append(tag)
        reply = post(self.proxy.port, body, content_type, tag, extra=headers)
        count("hostile bodies sent through the proxy")
        assert reply.status == 200, reply
        assert reply.body == body, "the device must get the upstream's answer unchanged"
        received = self.upstream.by_tag(tag)
        assert len(received) == 1
        assert received[0].body == body, "the upstream must get the device's body unchanged"
        assert self.proxy.alive
        record = self.record(tag)
        assert record["status"] == 200 and record["error"] is None, record["error"]
        assert record["request"] is not None
        return record

    def healthy(self) -> None:
        self.exchange(corpus.in_slot(corpus.TOKEN.encode()), "application/soap+xml")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    home = tmp_path_factory.mktemp("hostile")
    with Upstream() as upstream, Listener() as listener:
        rig = Rig(home, upstream, listener)
        try:
            yield rig
        finally:
            code = rig.proxy.stop()
        _check_the_run(rig, code)


def _check_the_run(rig: Rig, code: int) -> None:
    proxy = rig.proxy
    assert code == 0, proxy.stderr[-3000:]
    assert "Traceback" not in proxy.stderr
    lines = proxy.records_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    flows = proxy.flows()
    assert len(records) == len(flows), "the capture and the JSONL count the same exchanges"
    assert {r["id"] for r in records} == {f.id for f in flows}
    for tag in rig.sent:
        assert sum(r["url"].endswith(f"tag={tag}") for r in records) == 1, tag
    count("exchanges in the hostile-body capture", len(flows))
    # Nothing was read or fetched on the way.
    assert rig.listener.accepted == 0, "an external entity was fetched"
    everything = (proxy.capture.read_bytes() + proxy.records_path.read_bytes()
                  + proxy.out.read_bytes() + proxy.err.read_bytes())
    assert corpus.PASSWD_MARKER.encode() not in everything
    # The line per exchange never passes terminal controls on.
    assert "\x1b" not in proxy.stdout and "\u202e" not in proxy.stdout


# --------------------------------------------------------------- the corpus


def _corpus() -> list[corpus.Hostile]:
    return corpus.hostile(listener_port=0)  # names and shapes only; rebuilt per rig below


@pytest.mark.parametrize("name", [h.name for h in _corpus()])
def test_hostile_body(rig: Rig, name: str) -> None:
    entry = next(h for h in corpus.hostile(rig.listener.port) if h.name == name)
    record = rig.exchange(entry.body, entry.content_type, entry.headers)
    decoded = record["request"]
    codes = {f["code"] for f in decoded["findings"]}
    if entry.expect:
        assert codes & set(entry.expect), (entry.expect, codes)
        assert codes <= {f["code"] for f in record["findings"]}, "findings reach the record"
    if entry.protocol:
        assert decoded["protocol"] == entry.protocol
    # Nothing was expanded: the record is never much larger than the body.
    assert len(json.dumps(record)) < max(100_000, 4 * len(entry.body))


@pytest.mark.parametrize(("name", "body", "ctype"), corpus.seeds(),
                         ids=[s[0] for s in corpus.seeds()])
def test_real_messages_and_their_soap11_and_wsa10_forms(rig: Rig, name: str, body: bytes,
                                                          ctype: str) -> None:
    record = rig.exchange(body, ctype)
    decoded = record["request"]
    assert decoded["protocol"] != "not-soap"
    assert decoded["operation"] or decoded["kind"] == "fault"
    codes = {f["code"] for f in decoded["findings"]}
    assert ("soap.version-1.1" in codes) == ("soap11" in name)
    assert ("wsa.version-2005-08" in codes) == ("wsa10" in name)
    assert not any(c.startswith(("xml.", "mtom.")) for c in codes), codes


# ------------------------------------------------------------- generated

PROPERTY = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=30), derandomize=not SOAK,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
SEEDS = corpus.seeds()
CONTENT_TYPES = st.sampled_from([None, "application/soap+xml; charset=utf-8", "text/xml",
                                 "application/octet-stream", SEEDS[4][2],
                                 'multipart/related; boundary="x"; start="<nope>"'])


def _mutate(body: bytes, edits: list[tuple[int, float, bytes]]) -> bytes:
    out = bytearray(body)
    for op, where, payload in edits:
        at = int(where * len(out))
        if op == 0:
            out[at:at] = payload  # insert
        elif op == 1:
            del out[at : at + len(payload) + 1]  # delete
        elif op == 2:
            out[at : at + len(payload)] = payload  # overwrite
        elif op == 3:
            out[at:at] = out[at : at + 64]  # duplicate
        else:
            del out[at:]  # truncate
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1), st.binary(min_size=1, max_size=16)),
                 min_size=1, max_size=6)


@PROPERTY
@given(seed=st.sampled_from(SEEDS), edits=EDITS, keep_type=st.booleans(), other=CONTENT_TYPES)
def test_mutated_real_messages(rig: Rig, seed: tuple[str, bytes, str], edits: list[Any],
                               keep_type: bool, other: str | None) -> None:
    _, body, ctype = seed
    rig.exchange(_mutate(body, edits), ctype if keep_type else other)


@PROPERTY
@given(body=st.binary(max_size=8192), ctype=CONTENT_TYPES)
def test_generated_garbage(rig: Rig, body: bytes, ctype: str | None) -> None:
    rig.exchange(body, ctype)


TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=200)


@PROPERTY
@given(user=TEXT, root=TEXT, share=TEXT)
def test_generated_field_values(rig: Rig, user: str, root: str, share: str) -> None:
    from dspscope.wsdsp import build, encode

    message = build.create_post_scan_job(to=corpus.SERVER, user=user, psp_id=root, document_root=root,
                                         filters=[build.fileshare_filter(share)])
    encoded = encode(message)
    record = rig.exchange(encoded.content, encoded.content_type)
    assert record["operation"] == "CreatePostScanJob"
    assert record["request"]["fields"]["CreatePostScanJobRequest"]["UserIdentifier"] == user.strip()


# ------------------------------------------------------- broken framing

_HEAD = request_bytes(b"", content_type="application/soap+xml", tag="frame").split(b"Content-Length")[0]
_BODY = corpus.in_slot(corpus.TOKEN.encode())


def _framing() -> list[tuple[str, bytes, bool]]:
    """(name, bytes on the wire, half-close after sending)."""
    n = len(_BODY)
    chunked = _HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    return [
        ("content-length-short", _HEAD + b"Content-Length: %d\r\n\r\n" % (n - 10) + _BODY, False),
        ("content-length-long", _HEAD + b"Content-Length: %d\r\n\r\n" % (n + 100) + _BODY, True),
        ("content-length-not-a-number", _HEAD + b"Content-Length: 1e3\r\n\r\n" + _BODY, False),
        ("content-length-negative", _HEAD + b"Content-Length: -1\r\n\r\n" + _BODY, False),
        ("content-length-twice", _HEAD + b"Content-Length: %d\r\nContent-Length: 3\r\n\r\n" % n + _BODY,
         False),
        ("content-length-and-chunked", _HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"0\r\n\r\nPOST /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", False),
        ("chunk-size-not-hex", chunked + b"zz\r\n" + _BODY + b"\r\n0\r\n\r\n", False),
        ("chunk-size-negative", chunked + b"-1\r\n" + _BODY + b"\r\n0\r\n\r\n", False),
        ("chunk-size-huge", chunked + b"ffffffffffffffffffff\r\n" + _BODY, True),
        ("chunk-size-too-long", chunked + b"%x\r\n" % (n + 500) + _BODY + b"\r\n0\r\n\r\n", True),
        ("chunk-size-too-short", chunked + b"%x\r\n" % (n - 5) + _BODY + b"\r\n0\r\n\r\n", True),
        ("chunk-missing-end", chunked + b"%x\r\n" % n + _BODY + b"\r\n", True),
        ("chunk-extension-garbage", chunked + b"%x;\x00\x01=\r\n" % n + _BODY + b"\r\n0\r\n\r\n", True),
        ("request-line-garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + _BODY, True),
        ("header-without-colon", _HEAD + b"No colon here\r\nContent-Length: %d\r\n\r\n" % n + _BODY, False),
        ("headers-endless", _HEAD + b"X-Pad: " + b"p" * 300_000 + b"\r\n\r\n", True),
    ]


@pytest.mark.parametrize(("name", "wire", "half_close"), _framing(), ids=[f[0] for f in _framing()])
def test_broken_framing(rig: Rig, name: str, wire: bytes, half_close: bool) -> None:
    tag = f"frame-{name}"
    wire = wire.replace(b"tag=frame", b"tag=" + tag.encode()).replace(
        b"-tag: frame", b"-tag: " + tag.encode())
    before = len(rig.upstream.received)
    reply = raw_exchange(rig.proxy.port, wire, timeout=30, half_close=half_close)
    count("broken HTTP framings sent over raw sockets")
    assert rig.proxy.alive
    forwarded = [r for r in rig.upstream.received[before:]]
    # Whatever reached the upstream is one request with the bytes its framing
    # announced: never a smuggled second request, never a body cut short.
    assert all(r.target.startswith(f"/ScanServer?tag={tag}") for r in forwarded), forwarded
    # (300 KB of headers with no body: mitmproxy refuses them when they come
    # in pieces past its buffer limit, and may pass them on when they arrive
    # at once; passed on, the request has the empty body it announced.)
    announced = {"content-length-short": _BODY[:-10], "headers-endless": b""}.get(name, _BODY)
    for received in forwarded:
        assert received.body == announced, name
    assert reply.status in (None, 200, 400), reply
    rig.healthy()
