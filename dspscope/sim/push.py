"""Delivery of events to subscribers' NotifyTo endpoints over HTTP(S).

One queue and one worker per subscription (``addons.sim.outbox``), so a
device sees its events in the order the server made them, and a slow or
dead sink delays nobody else.  A failed POST is retried a few times; a sink
that keeps failing loses its subscription.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

import aiohttp

from dspscope.sim.eventing import Subscription
from dspscope.sim.outbox import Outbox
from dspscope.wsdsp import Message, encode

ATTEMPTS = 3
DEAD_AFTER = 3  # consecutive events that could not be delivered


class EventPusher(Outbox[Message]):
    def __init__(
        self,
        *,
        on_dead: Callable[[Subscription, str], None],
        timeout: float = 10.0,
        retry_delay: float = 0.2,
    ) -> None:
        super().__init__(timeout=timeout, connections=100)
        self.on_dead = on_dead
        self.retry_delay = retry_delay
        self.delivered = 0
        self.failed = 0

    def push(self, sub: Subscription, message: Message) -> None:
        self._enqueue(sub.identifier, message, functools.partial(self._send, sub))

    async def send_now(self, url: str, message: Message) -> bool:
        """One POST outside the queues (SubscriptionEnd at shutdown)."""
        try:
            return await self._post(url, message)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def _send(self, sub: Subscription, message: Message) -> None:
        if await self._deliver(sub.notify_to, message):
            sub.delivered += 1
            sub.failures = 0
            self.delivered += 1
        else:
            sub.failures += 1
            self.failed += 1
            if sub.failures == DEAD_AFTER:
                self.on_dead(sub, f"{DEAD_AFTER} events could not be delivered")

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
