"""The replay server: the scan server a capture recorded, over HTTP(S).

Embed it::

    async with ReplayServer(load_captures(["session.mitm"]), port=0) as server:
        print(server.url)           # https://127.0.0.1:PORT (any path is served)
        ...                         # point a device at server.url + "/ScanServer"
        await server.idle()         # every due event sent

Matching and regeneration are ``wsdsp.replay.ServerReplay``'s; this module
only moves bytes, waits (``timing="recorded"``) and posts events.  TLS
reuses the simulators' certificate helper, and listens as the simulated
server does (``addons.sim.listener``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from dspscope.replay.delivery import EventSender
from dspscope.sim import tls
from dspscope.sim.listener import MAX_BODY, Listener, read_message
from dspscope.wsdsp.replay import Capture, ServerReplay, Timing

Unmatched = Literal["fault", "404", "forward"]
Log = Callable[[str], None]


class ReplayServer(Listener):
    def __init__(
        self,
        capture: Capture,
        *,
        host: str = "127.0.0.1",
        port: int = 5362,
        tls_on: bool = True,
        cert: Path | None = None,
        key: Path | None = None,
        config_dir: Path | None = None,
        fresh_tokens: bool = False,
        keys: Sequence[str] = (),
        timing: Timing = "none",
        unmatched: Unmatched = "fault",
        forward: str | None = None,
        forward_ssl: ssl.SSLContext | bool = True,
        log: Log | None = None,
    ) -> None:
        if unmatched == "forward" and not forward:
            raise ValueError("unmatched='forward' needs the URL to forward to")
        self.capture = capture
        self.replay = ServerReplay(capture, fresh_tokens=fresh_tokens, keys=keys, timing=timing)
        super().__init__(host, port, tls_on=tls_on)
        self.cert, self.key, self.config_dir = cert, key, config_dir
        self.unmatched = unmatched
        self.forward = forward.rstrip("/") if forward else None
        self.forward_ssl = forward_ssl
        self.log: Log = log or (lambda _line: None)
        self.events = EventSender(log=self.log)
        self.matched = 0
        self.forwarded = 0
        self._client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return self.origin

    @property
    def endpoint(self) -> str:
        """The address to give a device: this server's origin and the path
        the recorded device started with (its discovery address)."""
        exchanges = [r for r in self.capture.exchanges if r.kind == "exchange"]
        first = next((r for r in exchanges if r.request.operation == "Probe"), None)
        first = first or (exchanges[0] if exchanges else None)
        path = urlsplit(first.url).path if first is not None else ""
        return self.origin + (path if path not in ("", "/") else "")

    async def start(self) -> None:
        context = None
        if self.tls_on:
            # --cert-key may be left out: the key is then in the certificate's PEM
            key = self.key or self.cert
            self.cert, self.key, context = tls.serving(self.cert, key, self.config_dir)
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        try:
            await self._listen(app, context)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {self.host or '*'}:{self.port}: "
                          f"{exc.strerror or exc}") from None
        await self.events.start()
        if self.forward:
            self._client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.forward_ssl))

    async def idle(self, timeout: float = 10.0) -> None:
        await self.events.drain(timeout)

    async def stop(self) -> None:
        if not await self._unlisten():
            return
        await self.events.drain(5.0)
        await self.events.close()
        if self._client is not None:
            await self._client.close()

    # ------------------------------------------------------------- requests

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body, message = await read_message(request)
        device = request.remote or "?"
        here = f"{self.scheme}://{request.host}" if request.host else self.url
        self.replay.origins = {o: here for o in self.capture.origins}
        answer = self.replay.answer(message, device=device, method=request.method, url=str(request.url))
        what = message.operation or f"{request.method} {request.path}"
        if answer.recorded is None:
            self.log(f"{device} {what}: unmatched ({answer.note})")
            return await self._unmatched(request, body, answer.status, answer.content,
                                         answer.content_type)
        self.matched += 1
        self.log(f"{device} {what}: recorded #{answer.recorded.index} -> {answer.status or 'no answer'}"
                 + (f" ({answer.note})" if answer.note else ""))
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.status == 0:
            response = web.Response(status=502, text="the recorded server never answered\n")
        else:
            headers = {"Content-Type": answer.content_type} if answer.content_type else {}
            response = web.Response(status=answer.status, body=answer.content, headers=headers)
        # the events of this step may only leave once the answer is on its way
        await response.prepare(request)
        await response.write_eof()
        self.events.schedule(answer.events)
        return response

    async def _unmatched(self, request: web.Request, body: bytes, status: int, content: bytes,
                         content_type: str | None) -> web.StreamResponse:
        if self.unmatched == "404":
            return web.Response(status=404, text="no recorded exchange matches this request\n")
        if self.unmatched == "forward" and self._client is not None and self.forward:
            return await self._forward(request, body)
        return web.Response(status=status, body=content,
                            headers={"Content-Type": content_type} if content_type else {})

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._client is not None and self.forward
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "soapaction")}
        try:
            async with self._client.request(request.method, self.forward + request.path_qs,
                                            data=body, headers=headers) as upstream:
                data = await upstream.read()
                self.forwarded += 1
                out_headers = {}
                if upstream.headers.get("Content-Type"):
                    out_headers["Content-Type"] = upstream.headers["Content-Type"]
                return web.Response(status=upstream.status, body=data, headers=out_headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return web.Response(status=502, text=f"forwarding failed: {exc}\n")
