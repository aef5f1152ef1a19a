"""One SOAP exchange of the simulated device over HTTP(S).

POST a built message (through ``--proxy`` if given, keep-alive, TLS as the
options say), decode the reply, note what a careful device would notice
(RelatesTo, HTTP status, error findings), retry ServerErrorTemporaryError
with bounded exponential back-off, and turn any other fault or transport
failure into one line: ``JobFailed``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from dspscope.local import config_dir
from dspscope.sim import tls
from dspscope.sim.errors import SimError
from dspscope.sim.results import DeviceOptions, JobResult
from dspscope.wsdsp import AttachmentData, Message, build, decode, encode
from dspscope.wsdsp.values import same_message_id

TEMPORARY = "ServerErrorTemporaryError"


class JobFailed(Exception):
    """Why one job could not go on (one line)."""


class SoapClient:
    def __init__(self, options: DeviceOptions) -> None:
        self.options = options
        self._session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        options = self.options
        if urlsplit(options.server).scheme not in ("http", "https"):
            raise SimError(f"--server {options.server!r} is not an http:// or https:// URL")
        context = tls.client_context(
            options.cafile, insecure=options.insecure, also_trust=config_dir() / tls.CERT_NAME
        )
        local = (options.source_address, 0) if options.source_address else None
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                ssl=context, limit=max(10, options.concurrency * 2), local_addr=local
            ),
            timeout=aiohttp.ClientTimeout(total=options.request_timeout),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        url: str,
        request: Message,
        result: JobResult,
        attachments: tuple[AttachmentData, ...] = (),
    ) -> Message:
        """The reply to ``request``; faults and problems are recorded on ``result``."""
        op = request.operation or "request"
        encoded = encode(request, attachments)
        attempt = 0
        while True:
            reply, status = await self._post(url, encoded.content, encoded.content_type, request)
            note_problems(op, request, reply, status, result)
            fault = reply.fault
            if reply.kind != "fault" or fault is None:
                return reply
            subcode = fault.subcode or fault.code
            result.faults.append(f"{op}: {subcode}")
            if subcode == TEMPORARY and attempt < self.options.retries:
                result.retries += 1
                delay = self.options.backoff * 2**attempt
                await asyncio.sleep(min(delay, self.options.backoff_max))
                attempt += 1
                continue
            detail = f" ({fault.detail})" if fault.detail else ""
            raise JobFailed(f"{op}: {subcode}{detail}")

    async def _post(
        self, url: str, content: bytes, content_type: str, request: Message
    ) -> tuple[Message, int]:
        assert self._session is not None, "open() the client first"
        op = request.operation or "request"
        headers = {"Content-Type": content_type}
        try:
            async with self._session.post(
                url, data=content, headers=headers, proxy=self.options.proxy
            ) as response:
                body = await response.read()
                reply = decode(body, response.headers.get("Content-Type"), request=request)
                if reply.protocol == "not-soap":
                    raise JobFailed(f"{op}: HTTP {response.status} from {url} with no SOAP reply")
                return reply, response.status
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            raise JobFailed(
                f"TLS with {_origin(url)} failed: {_reason(exc)}; give the server's "
                "certificate with --cafile FILE, or --insecure"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise JobFailed(
                f"cannot connect to {_origin(url)}: {_reason(exc)} (is the server running?)"
            ) from None
        except aiohttp.ServerDisconnectedError:
            hint = " (an https server?)" if url.startswith("http:") else ""
            raise JobFailed(f"{op} to {url}: connection closed without a reply{hint}") from None
        except aiohttp.ClientError as exc:
            raise JobFailed(f"{op} to {url}: {type(exc).__name__}: {exc}") from None
        except TimeoutError:
            timeout = self.options.request_timeout
            raise JobFailed(f"{op} to {url}: no reply within {timeout:g} s") from None


def note_problems(
    op: str, request: Message, reply: Message, status: int, result: JobResult
) -> None:
    """What a careful device notices about a reply (the job goes on)."""
    if not same_message_id(reply.relates_to, request.message_id):
        result.problems.append(
            f"{op}: RelatesTo {reply.relates_to!r} is not the request's MessageID"
        )
    expected = build.fault_status(reply) if reply.kind == "fault" else 200
    if status != expected:
        result.problems.append(f"{op}: HTTP {status} for a {reply.kind}, expected {expected}")
    for finding in reply.findings:
        if finding.severity == "error":
            result.problems.append(f"{op}: {finding.code}: {finding.text}")


def dig(node: Any, *path: str) -> Any:
    """The first value along ``path`` in decoded fields, walking into lists."""
    for step in path:
        if isinstance(node, list):
            node = next((n for n in node if isinstance(n, Mapping) and step in n), None)
        if not isinstance(node, Mapping):
            return None
        node = node.get(step)
    return node[0] if isinstance(node, list) and node else node


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "os_error", None) or getattr(exc, "certificate_error", None)
    inner = inner or exc.__cause__
    if inner is None:
        return str(exc)
    return str(getattr(inner, "verify_message", None) or getattr(inner, "strerror", None) or inner)
