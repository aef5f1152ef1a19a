"""The replay client: the devices a capture recorded, against a live server.

Steps start in capture order; each waits for the previous request of its
job (it needs the token the live server issued) and of its device, at most
``concurrency`` run at once, and at ``speed="recorded"`` none starts before
its recorded offset.  Recorded Subscribes are pointed at a small event sink
of ours, so the live server's events are compared too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import ssl
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from dspscope.replay.load import recorded_flows
from dspscope.sim.sink import EventSink
from dspscope.wsdsp.replay import (
    Capture,
    ClientReplay,
    ExchangeResult,
    Outgoing,
    Report,
    Step,
    notify_to,
)

Speed = Literal["recorded", "max"]
OnResult = Callable[[ExchangeResult], None]


class CannotConnect(Exception):
    """The target takes no connection at all, so nothing was replayed: a
    stopped server is not a server that behaves differently."""

    def __init__(self, target: str, reason: str, *, certificate: bool = False) -> None:
        self.target, self.reason, self.certificate = target, reason, certificate
        if certificate:
            text = f"cannot verify the certificate of {target}: {reason}"
        else:
            text = f"cannot connect to {target}: {reason}; is the server running?"
        super().__init__(text)


@dataclass(slots=True)
class ClientOptions:
    """How to replay (the flags of ``dspscope replay client``)."""

    speed: Speed = "max"
    concurrency: int = 4
    #: TLS towards the target: an SSLContext, True (system roots) or False (no checks).
    ssl: ssl.SSLContext | bool = True
    #: Address the live server should post events to (our sink listens
    #: there, on an ephemeral port unless one is given); None: the local
    #: address that reaches the target.
    notify_host: str | None = None
    notify_port: int = 0
    events: bool = True
    #: Seconds to wait after the last request for outstanding end-state events.
    event_wait: float = 10.0
    latency_threshold: float = 1.0
    ignore: tuple[str, ...] = ()
    request_timeout: float = 120.0


async def replay_capture(
    capture: Capture,
    target: str,
    options: ClientOptions | None = None,
    *,
    on_result: OnResult | None = None,
    stop: asyncio.Event | None = None,
) -> Report:
    """Replay every recorded request of ``capture`` against ``target``.

    Raises CannotConnect when the target takes no connection (nothing is
    sent).  Setting ``stop`` (Ctrl-C) ends the replay early: the report
    then covers what ran, with ``interrupted`` set."""
    options = options or ClientOptions()
    await _connectable(target, options.ssl)
    subscribes = any(notify_to(r.request) for r in capture.exchanges)
    sink: _Sink | None = None
    if options.events and subscribes:
        sink = _Sink(options.notify_host or _local_address(target), options.notify_port)
        await sink.start()
    client = ClientReplay(capture, target, notify_to=sink.url if sink else None,
                          latency_threshold=options.latency_threshold, ignore=options.ignore)
    if sink is not None:
        sink.client = client
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=options.ssl, limit=max(10, options.concurrency * 2)),
        timeout=aiohttp.ClientTimeout(total=options.request_timeout),
    )

    async def work() -> None:
        await _run_steps(client, session, options, on_result or (lambda _r: None), sink)
        if sink is not None:
            deadline = time.monotonic() + options.event_wait
            while client.awaiting_events() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)

    try:
        interrupted = await _until_stopped(work(), stop)
    finally:
        await session.close()
        if sink is not None:
            await sink.stop()
    report = client.report()
    return dataclasses.replace(report, interrupted=True) if interrupted else report


async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event | None) -> bool:
    """Run ``work`` to its end, or until ``stop`` is set (then cancel it and
    return True)."""
    task = asyncio.ensure_future(work)
    try:
        if stop is None:
            await task
            return False
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if task.done():
            task.result()
            return False
        return True
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _connectable(target: str, tls: ssl.SSLContext | bool, timeout: float = 10.0) -> None:
    """Raise CannotConnect unless a connection (with its TLS handshake) to
    ``target`` can be made."""
    parts = urlsplit(target)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError as exc:
        raise CannotConnect(target, str(exc)) from None
    context: ssl.SSLContext | None = None
    if https:
        if isinstance(tls, ssl.SSLContext):
            context = tls
        else:
            context = ssl.create_default_context()
            if not tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context)
    except ssl.SSLCertVerificationError as exc:
        raise CannotConnect(target, exc.verify_message or str(exc), certificate=True) from None
    except ssl.SSLError as exc:
        raise CannotConnect(target, f"TLS handshake failed ({exc.reason or exc})") from None
    except TimeoutError:
        raise CannotConnect(target, f"no connection within {timeout:g} s") from None
    except OSError as exc:  # asyncio's strerror names the address again: the errno's text
        raise CannotConnect(target, os.strerror(exc.errno) if exc.errno else str(exc)) from None
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def replay_flows(
    flows: Iterable[Any], target: str, options: ClientOptions | None = None, *,
    on_result: OnResult | None = None,
) -> Report:
    """Replay some flows (mitmproxy HTTPFlows or ``Recorded`` items): a
    whole capture, one job's flows, or a single exchange."""
    return await replay_capture(Capture(recorded_flows(flows)), target, options, on_result=on_result)


async def replay_exchange(flow: Any, target: str, options: ClientOptions | None = None) -> ExchangeResult:
    """Replay one request and compare its answer with the recorded one.

    A request of a job carries the recorded JobToken, which a fresh server
    does not know: replay the job's flows with ``replay_flows`` instead to
    get a meaningful comparison for those."""
    report = await replay_flows([flow], target, options)
    if not report.results:
        raise ValueError("nothing to replay: an event is sent by the server; replay its job instead")
    return report.results[0]


# ------------------------------------------------------------------ steps


async def _run_steps(client: ClientReplay, session: aiohttp.ClientSession,
                     options: ClientOptions, on_result: OnResult, sink: _Sink | None) -> None:
    done = {step.number: asyncio.Event() for step in client.steps}
    slots = asyncio.Semaphore(max(1, options.concurrency))
    loop = asyncio.get_running_loop()
    began = loop.time()
    tasks: list[asyncio.Task[None]] = []

    async def one(step: Step) -> None:
        try:
            result = await _exchange(client, session, step)
            on_result(result)
        finally:
            slots.release()
            done[step.number].set()

    given_up: set[str] = set()

    async def outcomes(step: Step) -> None:
        """The recorded device waited for these jobs' end states: so do we,
        up to ``event_wait`` per job (a missing one is reported anyway)."""
        for token in step.end_states:
            if token in given_up or sink is None:
                continue
            try:
                async with asyncio.timeout(options.event_wait):
                    while not client.end_state_received(token):
                        await sink.arrived.wait()
                        sink.arrived.clear()
            except TimeoutError:
                given_up.add(token)

    try:
        for step in client.steps:
            for before in step.after:
                await done[before].wait()
            await outcomes(step)
            if options.speed == "recorded":
                wait = began + step.offset - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(step)))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _exchange(client: ClientReplay, session: aiohttp.ClientSession, step: Step) -> ExchangeResult:
    out: Outgoing = client.prepare(step)
    headers = {"Content-Type": out.content_type} if out.content_type else {}
    started = time.monotonic()
    try:
        async with session.request(out.method, out.url, data=out.content or None,
                                   headers=headers) as response:
            content = await response.read()
            latency = time.monotonic() - started
            return client.observe(out, status=response.status, content=content,
                                  content_type=response.headers.get("Content-Type"),
                                  latency=latency)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return client.observe(out, status=None, content=None, content_type=None,
                              latency=time.monotonic() - started, error=_reason(exc))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    inner = getattr(exc, "os_error", None) or getattr(exc, "certificate_error", None)
    text = str(inner or exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


# ------------------------------------------------------------------- sink


class _Sink(EventSink):
    """Receives the live server's events for the replay (202, as a device answers)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port, prefix="/dspscope-replay/events")
        self.client: ClientReplay | None = None
        self.arrived = asyncio.Event()

    def receive(self, body: bytes, content_type: str | None) -> web.Response:
        if self.client is not None:
            self.client.event(body, content_type)
        self.arrived.set()
        return web.Response(status=202)


def _local_address(target: str) -> str:
    """The address of this host that the target can reach back."""
    host = urlsplit(target).hostname or "127.0.0.1"
    try:
        infos = socket.getaddrinfo(host, 9, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)
            return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
