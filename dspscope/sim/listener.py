"""An aiohttp application listening on host:port, over HTTP or HTTPS.

The simulated scan server and the replay server are both this: bind (port
0: any free port, read back after binding), serve, stop; ``async with``
around start/stop; SOAP bodies decoded off the event loop when large.  What
they answer, their URL paths and how they report a failed bind stay theirs.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Self

from aiohttp import web

from dspscope.wsdsp import Message, decode

MAX_BODY = 512 * 1024 * 1024
DECODE_IN_THREAD = 1024 * 1024  # bodies larger than this are decoded off the event loop
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class Listener:
    """Subclasses define start() (build the app, then ``_listen``) and stop()
    (``_unlisten`` first, then their own cleanup)."""

    def __init__(self, host: str, port: int, *, tls_on: bool) -> None:
        self.host = host
        self.port = port
        self.tls_on = tls_on
        self._runner: web.AppRunner | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_on else "http"

    @property
    def origin(self) -> str:
        """scheme://host:port, with this machine's name for a wildcard host."""
        host = socket.gethostname() if self.host in WILDCARD_HOSTS else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{self.port}"

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _listen(self, app: web.Application, context: ssl.SSLContext | None) -> None:
        """Serve ``app``; the OSError of a failed bind is raised as it came,
        with nothing left open."""
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host or None, self.port, ssl_context=context)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def _unlisten(self) -> bool:
        """Stop serving; False when it was not serving (nothing to stop)."""
        if self._runner is None:
            return False
        runner, self._runner = self._runner, None
        await runner.cleanup()
        return True


async def read_message(request: web.Request) -> tuple[bytes, Message]:
    """The request's body and its decoded message."""
    body = await request.read()
    content_type = request.headers.get("Content-Type")
    if len(body) > DECODE_IN_THREAD:
        message = await asyncio.to_thread(decode, body, content_type, hash_attachments=False)
    else:
        message = decode(body, content_type, hash_attachments=False)
    return body, message
