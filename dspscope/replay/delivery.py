"""Recorded events, posted to the device's NotifyTo at their moment.

One queue and one worker per sink address (``addons.sim.outbox``, shared
with the simulated server's pusher), so a device gets its events in the
order they were scheduled, each no earlier than its due time.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from dspscope.sim.outbox import Outbox
from dspscope.wsdsp.replay import OutgoingEvent

Log = Callable[[str], None]


@dataclass(slots=True)
class _Due:
    event: OutgoingEvent
    at: float


class EventSender(Outbox[_Due]):
    def __init__(self, *, log: Log | None = None, timeout: float = 10.0) -> None:
        super().__init__(timeout=timeout, connections=50)
        self.log: Log = log or (lambda _line: None)
        self.sent = 0
        self.failed = 0
        self.undeliverable = 0

    def schedule(self, events: tuple[OutgoingEvent, ...]) -> None:
        now = asyncio.get_running_loop().time()
        for event in events:
            if event.url is None:
                self.undeliverable += 1
                self.log(f"event {_name(event)} not sent: the device has not subscribed")
                continue
            self._enqueue(event.url, _Due(event, now + event.delay),
                          functools.partial(self._send, event.url))

    async def _send(self, url: str, due: _Due) -> None:
        wait = due.at - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        status = await self._post(url, due.event)
        if status is not None and 200 <= status < 300:
            self.sent += 1
            self.log(f"event {_name(due.event)} -> {url}: {status}")
        else:
            self.failed += 1
            self.log(f"event {_name(due.event)} -> {url}: failed ({status or 'no answer'})")

    async def _post(self, url: str, event: OutgoingEvent) -> int | None:
        assert self._session is not None, "start() the sender first"
        headers = {"Content-Type": event.content_type} if event.content_type else {}
        try:
            async with self._session.post(url, data=event.content, headers=headers) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None


def _name(event: OutgoingEvent) -> str:
    return event.recorded.request.operation or "event"
