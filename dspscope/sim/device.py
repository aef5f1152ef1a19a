"""The simulated scan device: the spec's job diagram, end to end, for as many
jobs as asked, ``concurrency`` at a time.

Per job: directed Probe, WS-Transfer Get (find the Hosted WS-DSP endpoint),
CreatePostScanJob, SendImage per page (MTOM), EndPostScanJob, then the wait
for the outcome: the PostScanJobEndStateEvent when subscribed (one
subscription per run, to this device's own sink), else GetPostScanJobElements
polled until the JobState is final.  ServerErrorTemporaryError is retried
with bounded exponential back-off; any other fault ends the job.

Embed it::

    device = SimulatedDevice(DeviceOptions(server=url, jobs=20, images=5, concurrency=20))
    results = await device.run()     # list[JobResult]; device.summary has totals
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from dspscope.sim import images
from dspscope.sim.errors import SimError
from dspscope.sim.exchange import JobFailed, SoapClient, dig
from dspscope.sim.results import DeviceOptions, JobResult, Summary
from dspscope.sim.sink import JobEvents, JobEventSink
from dspscope.wsdsp import AttachmentData, Message, build

T = TypeVar("T")
Progress = Callable[[str, JobResult], None]
FINAL_STATES = frozenset({"Completed", "Aborted", "Canceled"})
RENEW_EVERY = 1800.0  # the subscription asks for PT1H


class SimulatedDevice:
    def __init__(self, options: DeviceOptions, *, on_progress: Progress | None = None) -> None:
        self.options = options
        self.on_progress: Progress = on_progress or (lambda _what, _result: None)
        self.summary = Summary()
        self.results: deque[JobResult] = deque(maxlen=1000 if options.loop else None)
        rng = random.Random(options.seed)
        self.user = options.user or _sid(rng)
        self.psp_id = options.psp_id or str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.sink: JobEventSink | None = None
        self.endpoint: str | None = None
        self.client = SoapClient(options)
        self._image = b""
        self._next = 0
        self._stopping = False
        self._subscription: tuple[str, str] | None = None

    def stop(self) -> None:
        """Start no new job; the ones in flight finish."""
        self._stopping = True

    async def run(self) -> list[JobResult]:
        options = self.options
        try:
            self._image = await asyncio.to_thread(
                images.generate, options.format, options.image_size, options.seed or 0
            )
        except ValueError as exc:
            raise SimError(str(exc)) from None
        self.client.open()
        renewing: asyncio.Task[None] | None = None
        try:
            self.endpoint = await self._preflight()
            if options.subscribe:
                await self._subscribe(self.endpoint)
                renewing = asyncio.create_task(self._renew_forever())
            workers = [
                asyncio.create_task(self._worker()) for _ in range(max(1, options.concurrency))
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                # Workers already being cancelled are telling the server; let them.
                for worker in workers:
                    if not worker.done() and not worker.cancelling():
                        worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        finally:
            if renewing is not None:
                renewing.cancel()
            await asyncio.shield(self._close())
        return list(self.results)

    # -------------------------------------------------------------- run parts

    async def _preflight(self) -> str:
        """Discovery once before any job: an unreachable server or an untrusted
        certificate is one clear error, not N failed jobs."""
        scratch = JobResult(index=0)
        try:
            return await self._discover(scratch)
        except JobFailed as exc:
            raise SimError(str(exc)) from None
        finally:
            self.summary.problems += len(scratch.problems)

    async def _worker(self) -> None:
        options = self.options
        while not self._stopping and (options.loop or self._next < options.jobs):
            self._next += 1
            result = await self._job(self._next)
            if options.loop and not result.ok:
                await asyncio.sleep(options.backoff_max)  # a server that is down is not hammered
            elif options.pause:
                await asyncio.sleep(options.pause)

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3.0):
                if self._subscription is not None:
                    manager, identifier = self._subscription
                    await self.client.call(
                        manager,
                        build.eventing_request("Unsubscribe", to=manager, identifier=identifier),
                        JobResult(index=0),
                    )
        if self.sink is not None:
            await self.sink.stop()
        await self.client.close()

    async def _subscribe(self, endpoint: str) -> None:
        options = self.options
        self.sink = JobEventSink(
            options.sink_host, options.sink_port, advertise=_reachable(options.sink_host)
        )
        await self.sink.start()
        scratch = JobResult(index=0)
        try:
            reply = await self.client.call(
                endpoint, build.subscribe(to=endpoint, notify_to=self.sink.url), scratch
            )
        except JobFailed as exc:
            raise SimError(f"cannot subscribe to events: {exc}") from None
        manager = dig(reply.body, "SubscriptionManager", "Address")
        identifier = dig(reply.body, "SubscriptionManager", "ReferenceParameters", "Identifier")
        if not isinstance(manager, str) or not isinstance(identifier, str):
            raise SimError("SubscribeResponse has no SubscriptionManager address and Identifier")
        self._subscription = (manager, identifier)

    async def _renew_forever(self) -> None:
        while self._subscription is not None:
            await asyncio.sleep(RENEW_EVERY)
            manager, identifier = self._subscription
            with contextlib.suppress(JobFailed):
                await self.client.call(
                    manager,
                    build.eventing_request(
                        "Renew", to=manager, identifier=identifier, expires="PT1H"
                    ),
                    JobResult(index=0),
                )

    # -------------------------------------------------------------- one job

    async def _job(self, index: int) -> JobResult:
        result = JobResult(index=index)
        self.on_progress("started", result)
        began = time.monotonic()
        ended = False
        try:
            endpoint = await _timed(result, "discover", self._discover(result))
            reply = await _timed(
                result, "create", self.client.call(endpoint, self._create(endpoint), result)
            )
            if not reply.job_token:
                raise JobFailed("CreatePostScanJobResponse has no JobToken")
            result.token = token = reply.job_token
            heard = self.sink.claim(token) if self.sink else None
            await _timed(result, "images", self._send_images(endpoint, token, result))
            await _timed(
                result,
                "end",
                self.client.call(
                    endpoint, build.job_request("EndPostScanJob", to=endpoint, token=token), result
                ),
            )
            ended = True
            if heard is not None:
                await _timed(result, "wait", self._await_end_event(heard, result))
            else:
                await _timed(result, "wait", self._poll_final_state(endpoint, token, result))
            _judge(result)
        except JobFailed as exc:
            result.error = str(exc)
        except asyncio.CancelledError:
            result.error = "interrupted"
            try:
                if result.token and not ended:
                    await self._cancel_quietly(result.token)
            finally:
                self._finish(result, began)
            raise
        self._finish(result, began)
        return result

    def _finish(self, result: JobResult, began: float) -> None:
        result.timings["total"] = (time.monotonic() - began) * 1000
        if self.sink is not None and result.token:
            self.sink.release(result.token)
        self.summary.add(result)
        self.results.append(result)
        self.on_progress("finished", result)

    def _create(self, endpoint: str) -> Message:
        options = self.options
        filters = [build.fileshare_filter(*(options.shares or (r"\\scanserver\scans",)))]
        if options.emails:
            filters.append(build.email_filter(*options.emails))
        return build.create_post_scan_job(
            to=endpoint,
            user=self.user,
            psp_id=self.psp_id,
            document_root=options.document_root,
            filters=filters,
        )

    async def _send_images(self, endpoint: str, token: str, result: JobResult) -> None:
        for document_id in range(1, self.options.images + 1):
            cid = f"page{document_id}.{token}@dspscope"
            request = build.send_image(
                to=endpoint,
                token=token,
                document_id=document_id,
                format=self.options.format,
                content_id=cid,
            )
            await self.client.call(endpoint, request, result, (AttachmentData(cid, self._image),))
            result.images_sent += 1
            result.bytes_sent += len(self._image)
            self.on_progress("image", result)

    async def _await_end_event(self, heard: JobEvents, result: JobResult) -> None:
        try:
            async with asyncio.timeout(self.options.event_timeout):
                await heard.done.wait()
        except TimeoutError:
            raise JobFailed(
                f"no PostScanJobEndStateEvent within {self.options.event_timeout:g} s"
            ) from None
        state = (heard.end or {}).get("JobCompletedState")
        result.final_state = state if isinstance(state, str) else None
        result.images_reported = heard.images_reported
        result.events = heard.count

    async def _poll_final_state(self, endpoint: str, token: str, result: JobResult) -> None:
        deadline = time.monotonic() + self.options.event_timeout
        delay = 0.05
        while True:
            request = build.get_elements(to=endpoint, token=token, elements=("dsp:JobStatus",))
            reply = await self.client.call(endpoint, request, result)
            status = _job_status(reply)
            state = status.get("JobState")
            if state in FINAL_STATES:
                result.final_state = state
                reported = status.get("ImagesReceived")
                result.images_reported = reported if isinstance(reported, int) else None
                return
            if time.monotonic() > deadline:
                raise JobFailed(f"job still {state} after {self.options.event_timeout:g} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _cancel_quietly(self, token: str) -> None:
        endpoint = self.endpoint
        if endpoint is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await self.client.call(
                    endpoint,
                    build.job_request("CancelPostScanJob", to=endpoint, token=token),
                    JobResult(index=0),
                )

    async def _discover(self, result: JobResult) -> str:
        server = self.options.server
        matches = await self.client.call(server, build.probe(to=server), result)
        xaddrs = dig(matches.body, "ProbeMatch", "XAddrs")
        xaddr = xaddrs.split()[0] if isinstance(xaddrs, str) and xaddrs.split() else server
        metadata = await self.client.call(xaddr, build.transfer_get(to=xaddr), result)
        hosted = dig(
            metadata.body,
            "MetadataSection",
            "Relationship",
            "Hosted",
            "EndpointReference",
            "Address",
        )
        if not isinstance(hosted, str) or not hosted.strip():
            raise JobFailed("the server's metadata names no Hosted WS-DSP endpoint")
        return hosted.strip()


# ------------------------------------------------------------------ helpers


async def _timed(result: JobResult, step: str, work: Awaitable[T]) -> T:
    began = time.monotonic()
    try:
        return await work
    finally:
        result.timings[step] = (time.monotonic() - began) * 1000


def _judge(result: JobResult) -> None:
    if result.final_state != "Completed":
        raise JobFailed(
            f"the server ended the job {result.final_state or 'without a JobCompletedState'}"
        )
    if result.images_reported is not None and result.images_reported != result.images_sent:
        raise JobFailed(
            f"the server reports ImagesReceived={result.images_reported}, "
            f"{result.images_sent} were acknowledged"
        )
    result.ok = True


def _job_status(reply: Message) -> Mapping[str, Any]:
    data = dig(reply.body, "JobElements", "ElementData")
    for entry in data if isinstance(data, list) else [data]:
        if isinstance(entry, Mapping) and isinstance(entry.get("JobStatus"), Mapping):
            return entry["JobStatus"]  # type: ignore[no-any-return]
    raise JobFailed("GetPostScanJobElementsResponse has no JobStatus")


def _sid(rng: random.Random) -> str:
    parts = [rng.randrange(10**9, 4 * 10**9) for _ in range(3)]
    return f"S-1-5-21-{parts[0]}-{parts[1]}-{parts[2]}-{rng.randrange(1000, 100_000)}"


def _reachable(host: str) -> str:
    return socket.gethostname() if host in ("", "0.0.0.0", "::") else host
