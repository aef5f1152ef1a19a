"""Delivery of events to subscribers' NotifyTo endpoints over HTTP(S).

One queue and one worker per subscription, so a device sees its events in
the order the server made them, and a slow or dead sink delays nobody
else.  A failed POST is retried a few times; a sink that keeps failing
loses its subscription.  HTTPS sinks are not verified: device sinks use
self-signed certificates, and this is a simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp

from addons.sim.eventing import Subscription
from wsdsp import Message, encode

ATTEMPTS = 3
DEAD_AFTER = 3  # consecutive events that could not be delivered


class EventPusher:
    def __init__(
        self,
        *,
        on_dead: Callable[[Subscription, str], None],
        timeout: float = 10.0,
        retry_delay: float = 0.2,
    ) -> None:
        self.on_dead = on_dead
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.delivered = 0
        self.failed = 0
        self._session: aiohttp.ClientSession | None = None
        self._queues: dict[str, asyncio.Queue[Message]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=False, limit=100),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )

    def push(self, sub: Subscription, message: Message) -> None:
        queue = self._queues.get(sub.identifier)
        if queue is None:
            queue = self._queues[sub.identifier] = asyncio.Queue()
            self._workers[sub.identifier] = asyncio.create_task(self._work(sub, queue))
        queue.put_nowait(message)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued event was delivered or given up on."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(q.join() for q in list(self._queues.values())))

    async def send_now(self, url: str, message: Message) -> bool:
        """One POST outside the queues (SubscriptionEnd at shutdown)."""
        try:
            return await self._post(url, message)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _work(self, sub: Subscription, queue: asyncio.Queue[Message]) -> None:
        while True:
            message = await queue.get()
            try:
                if await self._deliver(sub.notify_to, message):
                    sub.delivered += 1
                    sub.failures = 0
                    self.delivered += 1
                else:
                    sub.failures += 1
                    self.failed += 1
                    if sub.failures == DEAD_AFTER:
                        self.on_dead(sub, f"{DEAD_AFTER} events could not be delivered")
            finally:
                queue.task_done()

    async def _deliver(self, url: str, message: Message) -> bool:
        for attempt in range(ATTEMPTS):
            try:
                if await self._post(url, message):
                    return True
            except (aiohttp.ClientError, TimeoutError, OSError):
                pass
            if attempt + 1 < ATTEMPTS:
                await asyncio.sleep(self.retry_delay * (attempt + 1))
        return False

    async def _post(self, url: str, message: Message) -> bool:
        assert self._session is not None, "start() the pusher first"
        encoded = encode(message)
        async with self._session.post(
            url, data=encoded.content, headers={"Content-Type": encoded.content_type}
        ) as response:
            await response.read()
            return 200 <= response.status < 300
