from __future__ import annotations

import asyncio

import pytest
from mitmproxy.test import taddons, tflow

from dspscope.addons import decoded as decode_cache
from dspscope.addons.decode import Decode
from dspscope.addons.decoded import message, state_of
from dspscope.addons.metadata import METADATA_KEY
from dspscope.addons.track import Track
from dspscope.wsdsp import build
from tests.addons import support


async def cycle(flow, *addons):
    with taddons.context(*addons) as tctx:
        for addon in addons:
            await tctx.cycle(addon, flow)
    return flow


async def test_metadata_of_an_exchange():
    req = support.create()
    f = support.flow(req, support.created(req))
    await cycle(f, Decode(), Track())
    meta = f.metadata[METADATA_KEY]
    assert meta["version"] == 1
    assert meta["kind"] == "exchange"
    assert meta["protocol"] == "ws-dsp"
    assert meta["operation"] == "CreatePostScanJob"
    assert meta["job_token"] == support.TOKEN
    assert meta["device"] == "10.0.0.7"
    assert meta["request"]["operation"] == "CreatePostScanJob"
    assert meta["response"]["job_token"] == support.TOKEN
    assert meta["findings"] == []
    assert meta["rules"] == []
    assert meta["error"] is None


async def test_decode_once_and_again_only_when_the_body_changes(monkeypatch):
    calls = []
    real = decode_cache.decode

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(decode_cache, "decode", counting)
    req = support.create()
    f = support.flow(req, support.created(req))
    first = message(f, "request")
    assert message(f, "request") is first
    assert state_of(f).request is first
    assert len(calls) == 1
    f.request.content = f.request.content.replace(b"Scan", b"Other")
    assert message(f, "request") is not first
    assert len(calls) == 2


async def test_track_sees_a_rewritten_response():
    req = support.create()
    f = support.flow(req, support.created(req))
    track = Track()
    with taddons.context(Decode(), track) as tctx:
        await tctx.cycle(Decode(), f)
        fault = build.fault(req, "ServerErrorInternalError")
        f.response.content = support._body(fault, (), None)[0]
        track.response(f)
    assert f.metadata[METADATA_KEY]["response"]["kind"] == "fault"


async def test_errors_leave_the_flow_untouched(monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(decode_cache, "decode", broken)
    req = support.create()
    f = support.flow(req, support.created(req))
    before = (f.request.raw_content, f.response.raw_content, f.request.headers.fields)
    dec, track = Decode(), Track()
    await cycle(f, dec, track)
    assert (f.request.raw_content, f.response.raw_content, f.request.headers.fields) == before
    assert dec.errors == 2
    assert track.errors == 1
    assert "boom" in f.metadata[METADATA_KEY]["error"]


async def test_non_soap_traffic_is_byte_identical():
    f = tflow.tflow(resp=True)
    f.request.method = "PUT"
    f.request.headers["content-type"] = "application/octet-stream"
    f.request.content = bytes(range(256)) * 1000
    f.response.content = b"<html>not soap</html>"
    state = f.get_state()
    await cycle(f, Decode(), Track())
    meta = f.metadata.pop(METADATA_KEY)
    assert meta["protocol"] == "not-soap"
    assert f.get_state() == state


async def test_gzip_response_is_decoded_and_left_compressed():
    req = support.create()
    f = support.flow(req, support.created(req), gzip_response=True)
    raw = f.response.raw_content
    await cycle(f, Decode(), Track())
    assert f.response.raw_content is raw
    assert f.metadata[METADATA_KEY]["response"]["job_token"] == support.TOKEN


async def test_large_bodies_are_decoded_off_the_event_loop(monkeypatch):
    threads = []
    real = asyncio.to_thread

    async def spy(func, *args):
        threads.append(func)
        return await real(func, *args)

    monkeypatch.setattr(decode_cache.asyncio, "to_thread", spy)
    send = build.send_image(to=support.ENDPOINT, token=support.TOKEN, document_id=1,
                            format="png", content_id="big@test")
    image = support.PNG + bytes(decode_cache.THREAD_THRESHOLD)
    f = support.flow(send, attachments=(support.AttachmentData("big@test", image),))
    await cycle(f, Decode())
    assert threads
    assert state_of(f).request.attachments[0].size == len(image)


async def test_events_are_tracked_as_events():
    flows = support.job_flows(images=1)
    track = Track()
    with taddons.context(Decode(), track):
        for f in flows:
            track.response(f)
    kinds = [f.metadata[METADATA_KEY]["kind"] for f in flows]
    assert kinds == ["exchange"] * 3 + ["event"] * 2
    assert flows[-1].metadata[METADATA_KEY]["device"] == flows[-1].request.host
    assert all(f.metadata[METADATA_KEY]["findings"] == [] for f in flows)
    # retired as soon as its end state came: its summary says how it went
    assert track.tracker.job(support.TOKEN) is None
    [summary] = [s for s in track.tracker.finished if s["token"] == support.TOKEN]
    assert summary["outcome"] == "Completed" and summary["events"] == 2


async def test_finished_jobs_are_evicted_and_reported():
    flows = support.job_flows(images=1)
    track = Track()
    seen = []
    track.listeners.append(seen.extend)
    track.EVICT_EVERY = 0
    with taddons.context(track):
        for f in flows:
            track.response(f)
    assert not track.tracker.jobs
    assert [s["token"] for s in seen] == [support.TOKEN]


async def test_a_flow_is_tracked_once():
    req = support.create()
    f = support.flow(req, support.created(req))
    track = Track()
    with taddons.context(track):
        track.response(f)
        track.error(f)
    assert track.exchanges == 1


async def test_a_flow_without_response_is_still_recorded():
    req = support.create()
    f = support.flow(req)
    f.error = tflow.terr("connection reset")
    track = Track()
    with taddons.context(track):
        track.error(f)
    meta = f.metadata[METADATA_KEY]
    assert meta["response"] is None and meta["operation"] == "CreatePostScanJob"


@pytest.mark.parametrize("keep", ["rules", "rewrites", "original"])
async def test_metadata_keeps_what_other_addons_added(keep):
    req = support.create()
    f = support.flow(req, support.created(req))
    f.metadata[METADATA_KEY] = {keep: ["kept"]}
    await cycle(f, Track())
    assert f.metadata[METADATA_KEY][keep] == ["kept"]


@pytest.mark.parametrize("size", [2_000, 600_000])  # hashed inline / by the prefetch thread
async def test_attachments_are_hashed_once_from_the_final_body(size):
    import hashlib

    from dspscope.wsdsp import AttachmentData

    image = bytes(range(256)) * (size // 256)
    req = build.send_image(to=support.ENDPOINT, token=support.TOKEN, document_id=1, format="png",
                           content_id="p1@d")
    f = support.flow(req, build.response(req), attachments=(AttachmentData("p1@d", image),))
    dec, track = Decode(), Track()
    with taddons.context(dec, track):
        await dec.request(f)
        assert message(f, "request").attachments[0].sha256 == ""  # not while the request is on its way
        f.request.content = f.request.content.replace(b"scan.example.test", b"scan.example.tst")
        track.request(f)
        await dec.response(f)
        track.response(f)
    (attachment,) = f.metadata[METADATA_KEY]["request"]["attachments"]
    assert attachment["sha256"] == hashlib.sha256(image).hexdigest()
    assert f.metadata[METADATA_KEY]["request"]["to"].startswith("https://scan.example.tst")
