"""Event sinks: a small aiohttp server whose URL is the NotifyTo address of
a subscription.  ``EventSink`` is the listener itself (client replay uses
it); ``JobEventSink`` is the simulated device's.  It answers every event
POST with 202 and an empty body, decodes the event and files it under its
JobToken, where the job waiting for its end-state event finds it.

Events can overtake the response that told the device its JobToken, so
events are kept per token whether or not a job has claimed it yet; tokens
nobody claims (another device's jobs) are bounded and counted.
"""

from __future__ import annotations

import asyncio
import errno
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dspscope.sim.errors import SimError
from dspscope.sim.listener import Listener
from dspscope.wsdsp import decode
from dspscope.wsdsp.values import new_guid

_MAX_UNCLAIMED = 1000


@dataclass(slots=True)
class JobEvents:
    """What the sink heard about one job."""

    states: list[str] = field(default_factory=list)
    images_reported: int | None = None
    end: dict[str, Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def count(self) -> int:
        return len(self.states) + (1 if self.end is not None else 0)


class EventSink(Listener):
    """Events POSTed over plain HTTP to one unguessable path, each answered
    as a device answers (202, empty).  ``url`` is the NotifyTo to subscribe
    with.  The simulated device's sink (``JobEventSink``) and client replay's
    sink are this, with their own ``receive``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, advertise: str | None = None,
                 prefix: str = "/events") -> None:
        super().__init__(host, port, tls_on=False)
        self.advertise = advertise or host
        self.path = f"{prefix}/{new_guid()}"

    @property
    def url(self) -> str:
        host = f"[{self.advertise}]" if ":" in self.advertise else self.advertise
        return f"http://{host}:{self.port}{self.path}"

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post(self.path, self._handle)
        try:
            await self._listen(app, None)
        except OSError as exc:
            busy = " (the port is busy)" if exc.errno == errno.EADDRINUSE else ""
            raise SimError(
                f"cannot start the event sink on {self.host}:{self.port}{busy}: "
                f"{exc.strerror or exc}"
            ) from None

    async def stop(self) -> None:
        await self._unlisten()

    def receive(self, body: bytes, content_type: str | None) -> web.Response:
        """What to do with one event, and the answer."""
        return web.Response(status=202)

    async def _handle(self, request: web.Request) -> web.Response:
        return self.receive(await request.read(), request.headers.get("Content-Type"))


class JobEventSink(EventSink):
    """The simulated device's sink: events filed under their JobToken."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, advertise: str | None = None
    ) -> None:
        super().__init__(host, port, advertise=advertise)
        self.received = 0
        self.rejected = 0
        self.subscription_ended: str | None = None
        self._jobs: OrderedDict[str, JobEvents] = OrderedDict()
        self._claimed: set[str] = set()

    def claim(self, token: str) -> JobEvents:
        """The events of one of this device's jobs (those already here, and later ones)."""
        self._claimed.add(token)
        return self._entry(token)

    def release(self, token: str) -> None:
        self._claimed.discard(token)
        self._jobs.pop(token, None)

    @property
    def foreign(self) -> int:
        """Tokens heard of that no job of this device claimed (so far)."""
        return sum(1 for t in self._jobs if t not in self._claimed)

    def _entry(self, token: str) -> JobEvents:
        entry = self._jobs.get(token)
        if entry is None:
            entry = self._jobs[token] = JobEvents()
            unclaimed = [t for t in self._jobs if t not in self._claimed]
            for old in unclaimed[: max(0, len(unclaimed) - _MAX_UNCLAIMED)]:
                del self._jobs[old]
        return entry

    def receive(self, body: bytes, content_type: str | None) -> web.Response:
        message = decode(body, content_type)
        if message.protocol == "ws-eventing" and message.operation == "SubscriptionEnd":
            status = message.body.get("Status")
            self.subscription_ended = status if isinstance(status, str) else "ended"
            return web.Response(status=202)
        if message.kind != "event" or message.protocol != "ws-dsp" or not message.job_token:
            self.rejected += 1
            return web.Response(status=400, text="not a WS-DSP event\n")
        self.received += 1
        entry = self._entry(message.job_token)
        fields = message.body
        if message.operation == "PostScanJobEndStateEvent":
            inner = fields.get("PostScanJobEndState")
            entry.end = dict(inner) if isinstance(inner, dict) else {}
            entry.done.set()
        else:
            inner = fields.get("JobStatus")
            state = inner.get("JobState") if isinstance(inner, dict) else None
            entry.states.append(state if isinstance(state, str) else "?")
        reported = inner.get("ImagesReceived") if isinstance(inner, dict) else None
        if isinstance(reported, int):
            entry.images_reported = reported
        return web.Response(status=202)
