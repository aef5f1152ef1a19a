"""Figure 1: proxy overhead, like for like.  Throughput and p50/p99
latency of device requests through ``dspscope proxy`` (decode, tracking,
checks, --save with its index, --jsonl; no rules), through ``mitmdump -w``
(the fair peer: it writes every flow too) and through plain ``mitmdump``,
for small exchanges (jobs without images: CreatePostScanJob,
EndPostScanJob and their events; 8 devices) and for 1 MB uploads (jobs of
five 1 MB SendImage; 4 devices).  The three run side by side in front of
the same simulated server and are measured in interleaved rounds, so all
see the same load from the other users of the machine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tests.bench.common import Children, Result, cpu_seconds, percentile, say, scratch
from tests.bench.load import Devices, LoadStats
from tests.bench.stack import PEERS, Endpoint, drop_segments, start_proxy, start_server

FIGURE = "1 overhead"
THROUGHPUT_TARGET = 0.90
P99_TARGET = 1.15


@dataclass(frozen=True)
class Load:
    name: str
    devices: int
    images_per_job: int
    image_size: int


SMALL = Load("small exchanges", 8, 0, 0)
UPLOADS = Load("1 MB uploads", 4, 5, 1_000_000)


@dataclass(frozen=True)
class Scale:
    seconds: float = 10.0  # per round and proxy
    rounds: int = 3
    warmup: float = 1.5
    schemes: tuple[str, ...] = ("http",)
    loads: tuple[Load, ...] = (SMALL, UPLOADS)


FULL = Scale()
QUICK = Scale(seconds=3.0, rounds=2, warmup=0.5)
SMOKE = Scale(seconds=0.5, rounds=1, warmup=0.2,
              loads=(Load("small exchanges", 1, 0, 0), Load("uploads", 1, 1, 50_000)))


@dataclass
class Sample:
    stats: list[LoadStats]
    cpu: float = 0.0  # proxy CPU seconds spent on the measured rounds (warm-up included)

    @property
    def throughput(self) -> float:
        return sum(s.requests for s in self.stats) / max(sum(s.seconds for s in self.stats), 1e-9)

    def p(self, q: float) -> float:
        return percentile([x for s in self.stats for x in s.latencies], q) * 1000

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.stats)

    @property
    def cpu_per_request(self) -> float:
        """Proxy CPU milliseconds per device request (events included in the cost)."""
        return self.cpu / max(self.requests, 1) * 1000


async def _round(proxy: Endpoint, load_: Load, scale: Scale) -> tuple[LoadStats, float]:
    before = cpu_seconds(proxy.pid) or 0.0
    image = None if load_.images_per_job else b"-"  # no image to make for jobs without one
    async with Devices(proxy.url, load_.devices, images_per_job=load_.images_per_job,
                       image_size=load_.image_size, image=image,
                       sink_port=proxy.sink_port, notify_origin=proxy.notify_origin) as load:
        stats = await load.run(scale.seconds, warmup=scale.warmup)
    return stats, (cpu_seconds(proxy.pid) or 0.0) - before


def run(scale: Scale = FULL) -> list[Result]:
    results: list[Result] = []
    with Children() as children, scratch("overhead") as work:
        for scheme in scale.schemes:
            server = start_server(children, work, tls=scheme == "https")
            proxies = {name: start_proxy(children, name, server.url, work) for name in PEERS}
            try:
                for load in scale.loads:
                    samples = {name: Sample([]) for name in PEERS}
                    for index in range(scale.rounds):
                        order = PEERS if index % 2 == 0 else tuple(reversed(PEERS))
                        for name in order:
                            say(f"figure 1: {scheme}, {load.name}, {name}, round {index + 1}")
                            stats, cpu = asyncio.run(_round(proxies[name], load, scale))
                            samples[name].stats.append(stats)
                            samples[name].cpu += cpu
                            drop_segments(proxies[name])
                    results.extend(_results(scheme, load, samples))
            finally:
                for endpoint in (*proxies.values(), server):
                    children.stop(endpoint.proc)  # type: ignore[arg-type]
    return results


def _problems(sample: Sample) -> str:
    """Failed requests, and jobs whose end-state event had not come through
    10 s after the round (the simulated server pushes one subscription's
    events one at a time, so they queue up behind a busy proxy)."""
    failed = sum(s.errors for s in sample.stats)
    late = sum(s.missed_events for s in sample.stats)
    parts = [f"{failed} failed" if failed else "", f"{late} end events late" if late else ""]
    return " and ".join(p for p in parts if p)


def _results(scheme: str, load: Load, samples: dict[str, Sample]) -> list[Result]:
    """Ours against mitmdump -w (the targets), and against plain mitmdump."""
    ours, peer, plain = samples["dspscope"], samples["mitmdump-w"], samples["mitmdump"]
    where = f"{scheme.upper()}, {load.name}, {load.devices} device{'s' if load.devices > 1 else ''}"
    note = ", ".join(f"{name}: {_problems(sample)}" for name, sample in samples.items()
                     if _problems(sample))
    return [
        Result(FIGURE, f"throughput vs mitmdump -w, {where}", "req/s", ours.throughput,
               peer.throughput, THROUGHPUT_TARGET, "higher", note=note),
        Result(FIGURE, f"p50 latency vs mitmdump -w, {where}", "ms", ours.p(0.5), peer.p(0.5),
               better="lower"),
        Result(FIGURE, f"p99 latency vs mitmdump -w, {where}", "ms", ours.p(0.99), peer.p(0.99),
               P99_TARGET, "lower"),
        Result(FIGURE, f"proxy CPU per request vs mitmdump -w, {where}", "ms",
               ours.cpu_per_request, peer.cpu_per_request, better="lower"),
        Result(FIGURE, f"throughput vs plain mitmdump (no capture), {where}", "req/s",
               ours.throughput, plain.throughput, better="higher"),
        Result(FIGURE, f"p99 latency vs plain mitmdump (no capture), {where}", "ms",
               ours.p(0.99), plain.p(0.99), better="lower"),
    ]
