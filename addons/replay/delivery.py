"""Recorded events, posted to the device's NotifyTo at their moment.

One queue and one worker per sink address, so a device gets its events in
the order they were scheduled, each no earlier than its due time.  HTTPS
sinks are not verified: device sinks use self-signed certificates, and this
is a test tool (as the simulated server's pusher).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from wsdsp.replay import OutgoingEvent

Log = Callable[[str], None]


@dataclass(slots=True)
class _Due:
    event: OutgoingEvent
    at: float


class EventSender:
    def __init__(self, *, log: Log | None = None, timeout: float = 10.0) -> None:
        self.log: Log = log or (lambda _line: None)
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self.undeliverable = 0
        self._session: aiohttp.ClientSession | None = None
        self._queues: dict[str, asyncio.Queue[_Due]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=False, limit=50),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )

    def schedule(self, events: tuple[OutgoingEvent, ...]) -> None:
        now = asyncio.get_running_loop().time()
        for event in events:
            if event.url is None:
                self.undeliverable += 1
                self.log(f"event {_name(event)} not sent: the device has not subscribed")
                continue
            queue = self._queues.get(event.url)
            if queue is None:
                queue = self._queues[event.url] = asyncio.Queue()
                self._workers[event.url] = asyncio.create_task(self._work(event.url, queue))
            queue.put_nowait(_Due(event, now + event.delay))

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every scheduled event went out (or failed)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(q.join() for q in list(self._queues.values())))

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _work(self, url: str, queue: asyncio.Queue[_Due]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = await queue.get()
            try:
                wait = due.at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                status = await self._post(url, due.event)
                if status is not None and 200 <= status < 300:
                    self.sent += 1
                    self.log(f"event {_name(due.event)} -> {url}: {status}")
                else:
                    self.failed += 1
                    self.log(f"event {_name(due.event)} -> {url}: failed ({status or 'no answer'})")
            finally:
                queue.task_done()

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
