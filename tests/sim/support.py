"""Helpers for the simulator tests: a raw client that sends built messages
and decodes the replies, and a minimal event sink."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from dspscope.sim.server import ScanServer
from dspscope.wsdsp import AttachmentData, Message, build, decode, encode

USER = "S-1-5-21-3623811015-3361044348-30300820-1013"
PSP = "9e3b5a6c-1d2f-4b8a-8c7e-5f0a1b2c3d4e"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Reply:
    status: int
    message: Message
    request: Message

    @property
    def subcode(self) -> str | None:
        return self.message.fault.subcode if self.message.fault else None

    @property
    def detail(self) -> str | None:
        return self.message.fault.detail if self.message.fault else None


class Client:
    """Sends one message at a time to the server's WS-DSP endpoint."""

    def __init__(self, session: aiohttp.ClientSession, server: ScanServer) -> None:
        self.session = session
        self.server = server

    async def send(
        self, message: Message, attachments: tuple[AttachmentData, ...] = (), url: str | None = None
    ) -> Reply:
        encoded = encode(message, attachments)
        return await self.raw(encoded.content, encoded.content_type, message, url)

    async def raw(
        self, content: bytes, content_type: str, request: Message, url: str | None = None
    ) -> Reply:
        async with self.session.post(
            url or self.server.endpoint, data=content, headers={"Content-Type": content_type}
        ) as response:
            body = await response.read()
            return Reply(
                response.status,
                decode(body, response.headers.get("Content-Type"), request=request),
                request,
            )

    async def create(self, **kwargs: object) -> str:
        reply = await self.send(create_request(self.server.endpoint, **kwargs))
        assert reply.status == 200, reply.message.fault
        assert reply.message.job_token
        return reply.message.job_token

    async def image(
        self, token: str, document_id: int, data: bytes = PNG, fmt: str = "png"
    ) -> Reply:
        cid = f"page{document_id}.{token}@test"
        request = build.send_image(
            to=self.server.endpoint,
            token=token,
            document_id=document_id,
            format=fmt,
            content_id=cid,
        )
        return await self.send(request, (AttachmentData(cid, data),))

    async def job_request(self, operation: str, token: str) -> Reply:
        return await self.send(build.job_request(operation, to=self.server.endpoint, token=token))


def create_request(to: str, **kwargs: object) -> Message:
    args: dict[str, object] = {"user": USER, "psp_id": PSP, "document_root": "Invoices"}
    args.update(kwargs)
    return build.create_post_scan_job(to=to, **args)  # type: ignore[arg-type]


@dataclass
class Sink:
    """Records every POST (decoded) and answers 202, like a device's sink."""

    host: str = "127.0.0.1"
    messages: list[Message] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> Sink:
        app = web.Application()
        app.router.add_post("/sink", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.url = f"http://{self.host}:{self._runner.addresses[0][1]}/sink"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.messages.append(decode(await request.read(), request.headers.get("Content-Type")))
        self.arrived.set()
        return web.Response(status=202)

    def events(self, token: str) -> list[Message]:
        return [m for m in self.messages if m.job_token == token]
