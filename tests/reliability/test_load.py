"""Fifty simulated devices, each from its own loopback address, running jobs
back to back through one ``dspscope proxy`` to the simulated server.

Nothing may be lost (every exchange the server answered and every event it
delivered is in the capture and in the JSONL, once), every job must be
followed from the device that ran it, and the proxy's memory must stay
flat once warm.  CI runs it for 25 s; DSPSCOPE_SOAK=1 runs it for 10
minutes (DSPSCOPE_SOAK_SECONDS to choose).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from dspscope.sim.device import SimulatedDevice
from dspscope.sim.results import DeviceOptions
from dspscope.sim.server import ScanServer
from dspscope.sim.sink import JobEventSink
from dspscope.wsdsp import build, encode, names
from tests.reliability.support import Proxy, count, rss_bytes

pytestmark = pytest.mark.e2e

DEVICES = 50
#: Where the event listener lives.  The server sees every device as the
#: proxy's address, so one subscription hears every job's events; the
#: listener (not a device) stays up until the last event is out.
LISTENER = "127.0.0.9"
SECONDS = float(os.environ.get("DSPSCOPE_SOAK_SECONDS") or (600 if os.environ.get("DSPSCOPE_SOAK") else 25))
#: Once warm, the proxy may grow by a few allocator steps and a little per
#: exchange (tracker state evicted every 30 s, bounded summaries: a 150 s
#: run grows by ~350 bytes per exchange).  Keeping flows would cost far
#: more: the images alone average 45 KB and each flow has its decoded
#: metadata, so ~10 KB per exchange at the least.
GROWTH_SLACK = 8 << 20
GROWTH_PER_EXCHANGE = 1024


def address(n: int) -> str:
    return f"127.0.0.{10 + n}"


async def _subscribe(proxy: Proxy, server: ScanServer, sink: JobEventSink) -> None:
    endpoint = f"{proxy.url}/ScanServer/{server.service_id}"
    # End-state events only: one subscription's events go out one at a time,
    # and every status event of every job would queue up far behind.
    ending = (names.action_for("PostScanJobEndStateEvent"),)
    encoded = encode(build.subscribe(to=endpoint, notify_to=sink.url, actions=ending))
    connector = aiohttp.TCPConnector(local_addr=(LISTENER, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(endpoint, data=encoded.content,
                                headers={"Content-Type": encoded.content_type}) as response:
            assert response.status == 200, await response.text()


@pytest.mark.timeout(SECONDS + 240)  # a soak (DSPSCOPE_SOAK) runs for ten minutes
async def test_fifty_devices_with_interleaved_jobs(tmp_path: Path) -> None:
    async with ScanServer(port=0, tls_on=False, config_dir=tmp_path) as server:
        proxy = Proxy(tmp_path, f"http://127.0.0.1:{server.port}", "--quiet")
        await asyncio.to_thread(proxy.started)
        sink = JobEventSink(LISTENER, 0)
        await sink.start()
        try:
            await _subscribe(proxy, server, sink)
            devices = [SimulatedDevice(DeviceOptions(
                server=f"{proxy.url}/ScanServer", loop=True, images=1 + n % 3,
                image_size=20_000 + 1_000 * n, source_address=address(n), seed=n,
                event_timeout=120, request_timeout=120, pause=0.05)) for n in range(DEVICES)]
            samples: list[tuple[float, int, int]] = []
            runs = [asyncio.create_task(device.run()) for device in devices]
            sampler = asyncio.create_task(_sample(proxy, server, samples))
            await asyncio.sleep(SECONDS)  # how long the load runs (the soak's length); not a wait for state
            for device in devices:
                device.stop()
            results = await asyncio.gather(*runs)
            sampler.cancel()
            await server.idle()
            await server.pusher.drain(timeout=300)
            assert await asyncio.to_thread(proxy.stop) == 0, proxy.stderr[-3000:]
        finally:
            proxy.kill()
            await sink.stop()
        # Every event reached the listener (a retried one may arrive twice:
        # each attempt is an exchange of its own).
        assert server.pusher.failed == 0
        assert sink.received >= server.pusher.delivered > 0
        sent = server.exchanges + sink.received
    assert "Traceback" not in proxy.stderr

    jobs = [job for run in results for job in run]
    assert [j.error for j in jobs if not j.ok] == []
    count("load: devices", DEVICES)
    count("load: jobs completed", len(jobs))

    # Counted in = counted out, in both files.
    records = proxy.records()
    flows = proxy.flows()
    count("load: exchanges captured", len(flows))
    assert len(records) == len(flows) == sent
    assert len({r["id"] for r in records}) == len(records) == len({f.id for f in flows})

    # Every job followed from the device that ran it, in both files.
    owner = {job.token: address(n) for n, run in enumerate(results) for job in run}
    per_job: dict[str, Counter[str]] = {token: Counter() for token in owner}
    for record in records:
        token = record["job_token"]
        if record["kind"] == "exchange" and token is not None:
            assert record["client"].rpartition(":")[0] == owner[token], record["operation"]
            per_job[token][record["operation"]] += 1
        elif record["kind"] == "event":
            assert urlsplit(record["url"]).hostname == LISTENER
            per_job[token][record["operation"]] += 1
    for n, run in enumerate(results):
        for job in run:
            seen = per_job[job.token]
            assert seen["CreatePostScanJob"] == 1 and seen["EndPostScanJob"] == 1, seen
            assert seen["SendImage"] == 1 + n % 3, seen
            assert seen["PostScanJobEndStateEvent"] == 1, seen
    for flow in flows:
        meta = flow.metadata["dspscope"]
        if meta["kind"] == "exchange" and meta["job_token"]:
            assert meta["device"] == owner[meta["job_token"]]

    # Memory: flat once warm.
    if os.environ.get("DSPSCOPE_RSS_LOG"):
        Path(os.environ["DSPSCOPE_RSS_LOG"]).write_text("\n".join(f"{t:.1f} {r >> 20} {n}" for t, r, n in samples))
    warm = [s for s in samples if s[0] >= SECONDS * 0.3]
    assert len(warm) >= 10, samples
    start_rss, start_count = statistics.median(s[1] for s in warm[:5]), warm[2][2]
    end_rss, end_count = max(s[1] for s in warm[-5:]), warm[-1][2]
    growth = end_rss - start_rss
    count("load: proxy peak RSS (MB)", max(s[1] for s in samples) >> 20)
    count("load: proxy RSS growth once warm (KB)", max(0, int(growth)) >> 10)
    assert growth < GROWTH_SLACK + GROWTH_PER_EXCHANGE * (end_count - start_count), (
        start_rss, end_rss, start_count, end_count)


async def _sample(proxy: Proxy, server: ScanServer, out: list[tuple[float, int, int]]) -> None:
    began = time.monotonic()
    while True:
        exchanges = server.exchanges + server.pusher.delivered
        out.append((time.monotonic() - began, rss_bytes(proxy.proc.pid), exchanges))
        await asyncio.sleep(0.5)  # the memory sampler's period; not a wait for state
