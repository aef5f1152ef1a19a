"""Figure 1: proxy overhead.  Throughput and p50/p99 latency of device
requests through ``dspscope proxy`` (decode, tracking, --save, --jsonl; no
rules) and through plain ``mitmdump``, over HTTP and HTTPS, with 1 and 16
devices.  Both proxies run side by side in front of the same simulated
server and are measured in alternating rounds, so both see the same load
from the other users of the machine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tests.bench.common import Children, Result, cpu_seconds, percentile, say, scratch
from tests.bench.load import Devices, LoadStats
from tests.bench.stack import PROXIES, Endpoint, drop_segments, start_proxy, start_server

FIGURE = "1 overhead"
THROUGHPUT_TARGET = 0.90
P99_TARGET = 1.15


@dataclass(frozen=True)
class Scale:
    seconds: float = 10.0  # per round and proxy
    rounds: int = 3
    warmup: float = 1.5
    schemes: tuple[str, ...] = ("http", "https")
    devices: tuple[int, ...] = (1, 16)
    image_size: int = 1_000_000


FULL = Scale()
QUICK = Scale(seconds=2.0, rounds=1, warmup=0.5)
SMOKE = Scale(seconds=0.5, rounds=1, warmup=0.2, schemes=("http",), devices=(1,), image_size=50_000)


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


async def _round(proxy: Endpoint, devices: int, scale: Scale) -> tuple[LoadStats, float]:
    before = cpu_seconds(proxy.pid) or 0.0
    async with Devices(proxy.url, devices, image_size=scale.image_size,
                       sink_port=proxy.sink_port, notify_origin=proxy.notify_origin) as load:
        stats = await load.run(scale.seconds, warmup=scale.warmup)
    return stats, (cpu_seconds(proxy.pid) or 0.0) - before


def run(scale: Scale = FULL) -> list[Result]:
    results: list[Result] = []
    with Children() as children, scratch("overhead") as work:
        for scheme in scale.schemes:
            server = start_server(children, work, tls=scheme == "https")
            proxies = {name: start_proxy(children, name, server.url, work) for name in PROXIES}
            try:
                for devices in scale.devices:
                    samples = {name: Sample([]) for name in PROXIES}
                    for index in range(scale.rounds):
                        order = PROXIES if index % 2 == 0 else tuple(reversed(PROXIES))
                        for name in order:
                            say(f"figure 1: {scheme}, {devices} device(s), {name}, round {index + 1}")
                            stats, cpu = asyncio.run(_round(proxies[name], devices, scale))
                            samples[name].stats.append(stats)
                            samples[name].cpu += cpu
                            drop_segments(proxies[name])
                    results.extend(_results(scheme, devices, samples["dspscope"], samples["mitmdump"]))
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


def _results(scheme: str, devices: int, ours: Sample, base: Sample) -> list[Result]:
    where = f"{scheme.upper()}, {devices} device{'s' if devices > 1 else ''}"
    note = ", ".join(_problems(sample) for sample in (ours, base) if _problems(sample))
    return [
        Result(FIGURE, f"throughput, {where}", "req/s", ours.throughput, base.throughput,
               THROUGHPUT_TARGET, "higher", note=note),
        Result(FIGURE, f"p50 latency, {where}", "ms", ours.p(0.5), base.p(0.5), better="lower"),
        Result(FIGURE, f"p99 latency, {where}", "ms", ours.p(0.99), base.p(0.99), P99_TARGET,
               "lower"),
        Result(FIGURE, f"proxy CPU per request, {where}", "ms", ours.cpu_per_request,
               base.cpu_per_request, better="lower"),
    ]
