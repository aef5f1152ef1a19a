"""Figure 5: soak.  ``dspscope proxy`` (decode, tracking, --save, --jsonl)
carrying 200,000 exchanges of small messages from 16 devices, against
plain ``mitmdump`` carrying the same; RSS of the proxy process sampled
throughout.  Growth is the RSS at the end minus the RSS once the first
tenth of the exchanges had passed (start-up, caches and buffers settled)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tests.bench.common import Children, Result, say, scratch, status_kb
from tests.bench.load import Devices
from tests.bench.stack import PROXIES, Endpoint, drop_segments, start_proxy, start_server

FIGURE = "5 soak"
GROWTH_TARGET = 50.0  # MB
SAMPLE_EVERY = 1.0


@dataclass(frozen=True)
class Scale:
    exchanges: int = 200_000
    devices: int = 16
    image_size: int = 4_000


FULL = Scale()
QUICK = Scale(exchanges=6_000)
SMOKE = Scale(exchanges=60, devices=1)


@dataclass
class Trace:
    samples: list[tuple[int, float]] = field(default_factory=list)  # (exchanges, RSS MB)
    seconds: float = 0.0
    failed: int = 0
    late: int = 0  # jobs whose end-state event was still queued at the server at the end

    def rss_at(self, fraction: float) -> float:
        total = self.samples[-1][0] if self.samples else 0
        for carried, rss in self.samples:
            if carried >= total * fraction:
                return rss
        return self.samples[-1][1] if self.samples else 0.0

    @property
    def growth(self) -> float:
        return self.rss_at(1.0) - self.rss_at(0.1)

    @property
    def peak(self) -> float:
        return max((rss for _, rss in self.samples), default=0.0)


async def _soak(proxy: Endpoint, scale: Scale) -> Trace:
    trace = Trace()
    async with Devices(proxy.url, scale.devices, image_size=scale.image_size,
                       sink_port=proxy.sink_port, notify_origin=proxy.notify_origin) as load:

        async def sample() -> None:
            last_report = 0
            while True:
                rss = (status_kb(proxy.pid, "VmRSS") or 0) / 1024
                trace.samples.append((load.carried, rss))
                if load.carried - last_report >= scale.exchanges // 10:
                    last_report = load.carried
                    say(f"figure 5: {proxy.name}: {load.carried:,} exchanges, RSS {rss:.0f} MB")
                    drop_segments(proxy)
                await asyncio.sleep(SAMPLE_EVERY)  # benchmark pacing: the sampling period

        sampler = asyncio.create_task(sample())
        try:
            stats = await load.run(0.0, warmup=0.0, until_exchanges=scale.exchanges)
        finally:
            sampler.cancel()
        await asyncio.sleep(SAMPLE_EVERY)  # benchmark pacing: let the proxy finish what is in flight
        trace.samples.append((load.carried, (status_kb(proxy.pid, "VmRSS") or 0) / 1024))
        trace.seconds = stats.seconds
        trace.failed, trace.late = stats.errors, stats.missed_events
    return trace


def run(scale: Scale = FULL) -> list[Result]:
    traces: dict[str, Trace] = {}
    with Children() as children, scratch("soak") as work:
        server = start_server(children, work, tls=False)
        for name in PROXIES:
            say(f"figure 5: {scale.exchanges:,} exchanges through {name}")
            proxy = start_proxy(children, name, server.url, work)
            try:
                traces[name] = asyncio.run(_soak(proxy, scale))
            finally:
                children.stop(proxy.proc)  # type: ignore[arg-type]
                drop_segments(proxy)
    ours, base = traces["dspscope"], traces["mitmdump"]
    what = f"{scale.exchanges:,} exchanges"
    notes = [f"{name}: {t.failed} failed requests" for name, t in traces.items() if t.failed]
    return [
        Result(FIGURE, f"RSS growth, {what}", "MB", ours.growth, base.growth, GROWTH_TARGET,
               "lower", absolute=True, note=", ".join(notes)),
        Result(FIGURE, f"peak RSS, {what}", "MB", ours.peak, base.peak, better="lower"),
        Result(FIGURE, f"time to carry {what}", "s", ours.seconds, base.seconds, better="lower",
               note=f"end events still queued at the server: {ours.late:,} vs {base.late:,} jobs"),
    ]
