"""Connection-level faults the HTTP layer of mitmproxy cannot express: a real
TCP reset, and a slow (throttled) response.

Both reach the client's socket through the proxyserver addon: its
``connections`` (by client connection id) hold the connection handler, whose
``transports[client].writer`` is the asyncio StreamWriter that every byte
for the device goes through (after TLS, so this works for HTTPS too).  That
is the same in mitmproxy 11 and 12; if it ever is not, these functions
raise ``WireError`` and the rule is reported as failed, traffic untouched.

* ``reset``: SO_LINGER (on, 0 s) then abort: the kernel sends RST instead
  of FIN, and the device's read fails with ECONNRESET.  (``flow.kill()``
  alone closes with FIN, which a device sees as a clean end of stream.)
* ``throttle``: the writer is wrapped for the next ``budget`` bytes, which
  go out in slices at ``rate`` bytes per second; ``drain`` waits for the
  slices, so mitmproxy's back-pressure holds the rest of that connection.
  The real writer is put back once the budget is spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from mitmproxy import ctx, http

SLICES_PER_SECOND = 10


class WireError(Exception):
    """The client connection cannot be reached the way this module needs."""


def client_io(flow: http.HTTPFlow) -> Any:
    """mitmproxy's ConnectionIO (handler, reader, writer) of the flow's client."""
    server = ctx.master.addons.get("proxyserver")
    handler = getattr(server, "connections", {}).get(flow.client_conn.id)
    transports = getattr(handler, "transports", None)
    io = transports.get(flow.client_conn) if transports is not None else None
    if io is None or getattr(io, "writer", None) is None:
        raise WireError("the client connection is gone (or not a TCP connection)")
    return io


def reset(flow: http.HTTPFlow) -> None:
    """Abort the client connection with a TCP RST."""
    io = client_io(flow)
    writer = getattr(io.writer, "inner", io.writer)
    sock = writer.get_extra_info("socket")
    transport = getattr(writer, "transport", None)
    if sock is None or transport is None:
        raise WireError("this client connection has no TCP socket to reset")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def throttle(flow: http.HTTPFlow, rate: int, budget: int) -> None:
    """Send the next ``budget`` bytes to the client at ``rate`` bytes/s."""
    io = client_io(flow)
    if isinstance(io.writer, PacedWriter):
        io.writer.extend(rate, budget)
    else:
        io.writer = PacedWriter(io, io.writer, rate, budget)


class PacedWriter:
    """A StreamWriter stand-in that paces the first ``budget`` bytes."""

    def __init__(self, io: Any, inner: Any, rate: int, budget: int) -> None:
        self.io = io
        self.inner = inner
        self.rate = max(1, rate)
        self.budget = budget
        self._queue = bytearray()
        self._flushed = asyncio.Event()
        self._flushed.set()
        self._task: asyncio.Task[None] | None = None
        self._close_after = False
        self._eof_after = False

    def extend(self, rate: int, budget: int) -> None:
        self.rate = max(1, rate)
        self.budget += budget

    def write(self, data: bytes) -> None:
        if self._task is None and not self._queue and self.budget <= 0:
            self.inner.write(data)
            return
        self._queue += data
        self._flushed.clear()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        try:
            while self._queue and not self.inner.is_closing():
                size = len(self._queue)
                if self.budget > 0:
                    size = min(size, self.budget, max(1, self.rate // SLICES_PER_SECOND))
                chunk = bytes(self._queue[:size])
                del self._queue[:size]
                self.inner.write(chunk)
                await self.inner.drain()
                if self.budget > 0:
                    self.budget -= size
                    await asyncio.sleep(size / self.rate)
        except (OSError, RuntimeError):
            self._queue.clear()
        finally:
            self._task = None
            if self.budget <= 0 and not self._queue and self.io.writer is self:
                self.io.writer = self.inner
            if self._close_after:
                self.inner.close()
            elif self._eof_after:
                with contextlib.suppress(OSError, RuntimeError):
                    self.inner.write_eof()
            self._flushed.set()

    async def drain(self) -> None:
        await self._flushed.wait()
        await self.inner.drain()

    def is_closing(self) -> bool:
        return self._close_after or bool(self.inner.is_closing())

    def close(self) -> None:
        if self._task is None:
            self.inner.close()
        else:
            self._close_after = True

    def write_eof(self) -> None:
        if self._task is None:
            self.inner.write_eof()
        else:
            self._eof_after = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
