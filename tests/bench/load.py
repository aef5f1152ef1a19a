"""The load generator: scan devices as one small aiohttp client.

Each device runs post-scan jobs back to back, the mix the issue names:
CreatePostScanJob, N x SendImage (MTOM, one image of ``image_size`` bytes),
EndPostScanJob; the job's events (status, end state) arrive meanwhile and
are counted, and the run ends by waiting for the end-state events still on
their way.  Devices do not wait for each job's end-state event before the
next job: the simulated server pushes one subscription's events one at a
time, so with one subscription for all devices that wait would turn the
proxy's per-event latency into a 16-fold throughput limit.  Events
come the way they do in the field: one WS-Eventing subscription made
through the proxy, the simulated server pushing every job's status events
to it (through dspscope proxy's event listener, which relays them to the
sink; around plain mitmdump, which cannot carry them, straight to the sink).

Device i connects from 127.0.0.(2+i), so the proxy sees distinct devices.
Messages are built by wsdsp.build and encoded by wsdsp.encode like the
simulated device's; the server is the simulated one (addons.sim).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from dspscope.sim import images
from dspscope.sim.exchange import dig
from dspscope.sim.sink import JobEvents, JobEventSink
from dspscope.wsdsp import AttachmentData, Message, build, decode, encode
from tests.bench.common import HOST, percentile

USER = "S-1-5-21-1004336348-1177238915-682003330-512"
PSP = "9e3b5a6c-1d2f-4b8a-8c7e-5f0a1b2c3d4e"
EVENT_WAIT = 10.0


@dataclass
class LoadStats:
    """What one measured window saw."""

    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds, requests done in the window
    bytes: int = 0
    jobs: int = 0
    events: int = 0
    errors: int = 0
    missed_events: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        """Device requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    @property
    def exchanges(self) -> int:
        """Exchanges a proxy carried: device requests and events."""
        return self.requests + self.events

    def p(self, q: float) -> float:
        """Latency quantile in milliseconds."""
        return percentile(self.latencies, q) * 1000


class Devices:
    """``count`` devices sending through ``url`` (a discovery address).

    The event sink listens on ``sink_port`` (0: any); the subscription names
    ``notify_origin`` instead of the sink's own address when given (a
    listener that forwards to the sink)."""

    def __init__(self, url: str, count: int, *, images_per_job: int = 5,
                 image_size: int = 1_000_000, image: bytes | None = None, sink_port: int = 0,
                 notify_origin: str | None = None) -> None:
        self.url = url
        self.notify_origin = notify_origin
        self.count = count
        self.images_per_job = images_per_job
        if image is None:
            kind = "tiff-multi-g4" if image_size >= 20_000 else "png"
            image = images.generate(kind, image_size, 7)
        self.image = image
        #: Milliseconds of each operation of the last job run by ``job()``.
        self.timings: dict[str, float] = {}
        self.endpoint = url
        self.sink = JobEventSink(HOST, sink_port)
        self._sessions: list[aiohttp.ClientSession] = []
        self._subscription: tuple[str, str] | None = None
        self._window: tuple[float, float] = (0.0, 0.0)
        self._stats = LoadStats(0.0)
        self._events_before: int | None = None
        self._outstanding: dict[str, JobEvents] = {}

    async def __aenter__(self) -> Devices:
        await self.sink.start()
        for i in range(self.count):
            connector = aiohttp.TCPConnector(ssl=False, limit=1, local_addr=(f"127.0.0.{2 + i}", 0))
            self._sessions.append(aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=600)))
        first = self._sessions[0]
        matches = await self._call(first, self.url, build.probe(to=self.url))
        xaddrs = dig(matches.body, "ProbeMatch", "XAddrs")
        xaddr = xaddrs.split()[0] if isinstance(xaddrs, str) and xaddrs.split() else self.url
        xaddr = _on_origin(xaddr, self.url)
        metadata = await self._call(first, xaddr, build.transfer_get(to=xaddr))
        hosted = dig(metadata.body, "MetadataSection", "Relationship", "Hosted",
                      "EndpointReference", "Address")
        if not isinstance(hosted, str):
            raise RuntimeError(f"no Hosted endpoint in the metadata from {xaddr}")
        # The device is configured with the proxy: keep talking to it even
        # where the server advertised itself (plain mitmdump does not rewrite).
        self.endpoint = _on_origin(hosted.strip(), self.url)
        notify_to = self.sink.url
        if self.notify_origin:
            notify_to = _on_origin(notify_to, self.notify_origin)
        reply = await self._call(first, self.endpoint,
                                 build.subscribe(to=self.endpoint, notify_to=notify_to))
        manager = dig(reply.body, "SubscriptionManager", "Address")
        identifier = dig(reply.body, "SubscriptionManager", "ReferenceParameters", "Identifier")
        if isinstance(manager, str) and isinstance(identifier, str):
            self._subscription = (_on_origin(manager, self.url), identifier)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            if self._subscription is not None:
                manager, identifier = self._subscription
                async with asyncio.timeout(5):
                    await self._call(self._sessions[0], manager, build.eventing_request(
                        "Unsubscribe", to=manager, identifier=identifier))
        for session in self._sessions:
            await session.close()
        await self.sink.stop()

    # ------------------------------------------------------------- running

    async def run(self, seconds: float, *, warmup: float = 1.0,
                  until_exchanges: int | None = None) -> LoadStats:
        """Jobs on every device for ``warmup + seconds`` (or until the proxy
        carried ``until_exchanges``); statistics of the last ``seconds``."""
        start = time.monotonic() + warmup
        self._window = (start, start + seconds if until_exchanges is None else float("inf"))
        self._stats = stats = LoadStats(seconds)
        self._events_before = None

        async def watch_start() -> None:
            await asyncio.sleep(max(0.0, start - time.monotonic()))  # benchmark pacing: start at the set time
            self._events_before = self.sink.received

        watcher = asyncio.create_task(watch_start())

        def done() -> bool:
            if until_exchanges is None:
                return time.monotonic() >= self._window[1]
            return self._events_before is not None and self.carried >= until_exchanges

        await asyncio.gather(*(self._device(s, done) for s in self._sessions))
        await watcher
        end = min(time.monotonic(), self._window[1])
        await self._await_events()
        stats.seconds = max(end - start, 1e-9)
        stats.events = self.carried - stats.requests
        return stats

    @property
    def carried(self) -> int:
        """Exchanges (device requests and events) carried in the window so far."""
        if self._events_before is None:
            return 0
        return self._stats.requests + self.sink.received - self._events_before

    async def _device(self, session: aiohttp.ClientSession, done: Callable[[], bool]) -> None:
        while not done():
            try:
                await self._job(session)
            except (aiohttp.ClientError, TimeoutError, RuntimeError):
                self._stats.errors += 1
                await asyncio.sleep(0.2)  # benchmark pacing: back off after an error

    async def job(self) -> dict[str, float]:
        """One job on the first device; milliseconds per operation."""
        self.timings = {}
        self._window = (0.0, float("inf"))
        self._stats = LoadStats(0.0)
        await self._job(self._sessions[0])
        await self._await_events()
        return dict(self.timings)

    async def _job(self, session: aiohttp.ClientSession) -> None:
        endpoint = self.endpoint
        create = build.create_post_scan_job(
            to=endpoint, user=USER, psp_id=PSP, document_root="Bench",
            filters=[build.fileshare_filter(r"\\scanserver\scans")])
        reply = await self._call(session, endpoint, create, timed=True)
        token = reply.job_token
        if not token:
            raise RuntimeError("CreatePostScanJobResponse without a JobToken")
        self._outstanding[token] = self.sink.claim(token)
        for document in range(1, self.images_per_job + 1):
            cid = f"page{document}.{token}@bench"
            request = build.send_image(to=endpoint, token=token, document_id=document,
                                       format="tiff-multi-g4", content_id=cid)
            await self._call(session, endpoint, request, (AttachmentData(cid, self.image),),
                             timed=True)
        await self._call(session, endpoint,
                         build.job_request("EndPostScanJob", to=endpoint, token=token), timed=True)
        self._settle()

    def _settle(self) -> None:
        """Forget the jobs whose end-state event arrived."""
        for token in [t for t, heard in self._outstanding.items() if heard.done.is_set()]:
            del self._outstanding[token]
            self.sink.release(token)
            self._stats.jobs += 1

    async def _await_events(self) -> None:
        """The end-state events still on their way, for at most EVENT_WAIT s."""
        waiting = [heard.done.wait() for heard in self._outstanding.values()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(EVENT_WAIT):
                await asyncio.gather(*waiting)
        self._settle()
        self._stats.missed_events += len(self._outstanding)
        for token in list(self._outstanding):
            self.sink.release(token)
        self._outstanding.clear()

    async def _call(self, session: aiohttp.ClientSession, url: str, request: Message,
                    attachments: tuple[AttachmentData, ...] = (), *, timed: bool = False) -> Message:
        encoded = encode(request, attachments)
        began = time.monotonic()
        async with session.post(url, data=encoded.content,
                                headers={"Content-Type": encoded.content_type}) as response:
            body = await response.read()
            status = response.status
            content_type = response.headers.get("Content-Type")
        ended = time.monotonic()
        if request.operation:
            self.timings[request.operation] = (ended - began) * 1000
        if status >= 300:
            raise RuntimeError(f"{request.operation}: HTTP {status}")
        if timed and self._window[0] <= ended <= self._window[1]:
            self._stats.latencies.append(ended - began)
            self._stats.bytes += len(encoded.content) + len(body)
        if request.operation in ("CreatePostScanJob", "Probe", "Get", "Subscribe"):
            return decode(body, content_type, request=request)
        return request  # the reply is not needed: do not spend the client's CPU on it


def _on_origin(url: str, base: str) -> str:
    """``url`` with the scheme and authority of ``base``."""
    parts, ours = urlsplit(url), urlsplit(base)
    return urlunsplit((ours.scheme, ours.netloc, parts.path, parts.query, parts.fragment))
