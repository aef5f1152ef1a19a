"""Ordered outgoing POSTs: one queue and one worker per destination.

The simulated server's event pusher and the replay server's event sender
both post events to devices' NotifyTo endpoints: each destination gets its
items in the order they were queued, and a slow or dead one delays nobody
else.  They share this; what "sending one item" means is theirs.  HTTPS is
not verified: device sinks use self-signed certificates, and both are test
tools.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import aiohttp

Item = TypeVar("Item")


class Outbox(Generic[Item]):
    def __init__(self, *, timeout: float, connections: int) -> None:
        self.timeout = timeout
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._queues: dict[str, asyncio.Queue[Item]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=False, limit=self._connections),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )

    def _enqueue(self, key: str, item: Item, send: Callable[[Item], Awaitable[None]]) -> None:
        """Queue ``item`` for destination ``key``; its worker (started with the
        first item) hands items to ``send`` one after the other."""
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            self._workers[key] = asyncio.create_task(_work(queue, send))
        queue.put_nowait(item)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued item was sent or given up on."""
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


async def _work(queue: asyncio.Queue[Item], send: Callable[[Item], Awaitable[None]]) -> None:
    while True:
        item = await queue.get()
        try:
            await send(item)
        finally:
            queue.task_done()
