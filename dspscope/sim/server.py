"""The simulated DSM scan server: aiohttp in front of the job book, the
subscription book, the event pusher and the image store.

Embed it::

    async with ScanServer(port=0, tls=False) as server:
        print(server.url)        # http://127.0.0.1:PORT/ScanServer (discovery address)
        print(server.endpoint)   # .../ScanServer/<guid> (the WS-DSP endpoint)
        ...
        await server.idle()      # filters run and events delivered

Every message is decoded with ``wsdsp.decode`` and answered with a message
from ``wsdsp.build``; faults carry RelatesTo and HTTP 400 (Sender) or 500
(Receiver).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from dspscope.sim import tls
from dspscope.sim.errors import ProtocolFault, SimError
from dspscope.sim.eventing import Subscription, Subscriptions
from dspscope.sim.filters import FilterRunner
from dspscope.sim.jobs import JobBook, ServerJob
from dspscope.sim.listener import MAX_BODY, WILDCARD_HOSTS, Listener, read_message
from dspscope.sim.push import EventPusher
from dspscope.sim.resends import Answered
from dspscope.sim.store import ImageStore
from dspscope.wsdsp import Message, RemoteProtocolError, build, encode, names
from dspscope.wsdsp.values import new_guid

# WILDCARD_HOSTS and MAX_BODY moved to addons.sim.listener; still importable from here
__all__ = ["BASE_PATH", "MAX_BODY", "WILDCARD_HOSTS", "FaultHook", "Log", "ScanServer"]

BASE_PATH = "/ScanServer"

FaultHook = Callable[[Message], str | None]
Log = Callable[[str], None]


class ScanServer(Listener):
    """A stateful WS-DSP scan server on ``host:port`` (port 0: any free port).

    ``fault_hook(request)`` may return a spec fault subcode to answer a
    WS-DSP request with instead (tests use it for ServerErrorTemporaryError).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5362,
        *,
        tls_on: bool = True,
        cert: Path | None = None,
        key: Path | None = None,
        store: Path | None = None,
        config_dir: Path | None = None,
        fault_hook: FaultHook | None = None,
        processing_delay: float = 0.0,
        log: Log | None = None,
    ) -> None:
        super().__init__(host, port, tls_on=tls_on)
        self.cert, self.key = cert, key
        self.config_dir = config_dir
        self.store = ImageStore(store) if store is not None else None
        self.fault_hook = fault_hook
        self.log: Log = log or (lambda _line: None)
        self.service_id = new_guid()
        self.jobs = JobBook()
        self.subscriptions = Subscriptions(self.jobs.now)
        self.pusher = EventPusher(on_dead=self._dead_sink)
        self.filters = FilterRunner(
            self.store, report=self._status, log=self.log, delay=processing_delay
        )
        self.exchanges = 0
        #: answers to requests already processed, for resends (same MessageID)
        self.answered = Answered()
        #: requests answered as before without doing their work again
        self.resends = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The discovery address a device is configured with."""
        return f"{self.origin}{BASE_PATH}"

    @property
    def endpoint(self) -> str:
        """The WS-DSP endpoint (the Hosted service in the metadata)."""
        return f"{self.url}/{self.service_id}"

    async def start(self) -> None:
        context = None
        if self.tls_on:
            self.cert, self.key, context = tls.serving(self.cert, self.key, self.config_dir)
        if self.store is not None:
            try:
                self.store.prepare()
            except OSError as exc:
                raise SimError(
                    f"cannot use --store {self.store.root}: {exc.strerror or exc}"
                ) from None
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(BASE_PATH, self._handle)
        app.router.add_post(BASE_PATH + "/{service}", self._handle)
        try:
            await self._listen(app, context)
        except OSError as exc:
            raise SimError(_listen_error(self.host, self.port, exc)) from None
        await self.pusher.start()

    async def stop(self) -> None:
        """Stop listening, let the running filters finish briefly, say goodbye
        to subscribers (SubscriptionEnd), close everything."""
        if not await self._unlisten():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self.idle()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        ends = [
            self.pusher.send_now(
                sub.notify_to,
                build.subscription_end(
                    to=sub.notify_to,
                    manager=self.endpoint,
                    identifier=sub.identifier,
                    status="SourceShuttingDown",
                ),
            )
            for sub in self.subscriptions.active.values()
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await asyncio.gather(*ends)
        await self.pusher.close()

    async def idle(self) -> None:
        """Wait until no filter runs and every queued event went out."""
        # Wait on the pending tasks only: a finished task leaves the set by a
        # callback, and gather() of finished tasks returns without yielding
        # to the loop (3.12), which would never run that callback.
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)
        await self.pusher.drain()

    # ------------------------------------------------------------- requests

    async def _handle(self, request: web.Request) -> web.Response:
        service = request.match_info.get("service")
        if service is not None and service.lower() != self.service_id:
            raise web.HTTPNotFound(text="no such service\n")
        body, message = await read_message(request)
        self.exchanges += 1
        peer = request.remote or "?"
        reply = await self.answer(message, body, peer, base=self._base(request))
        encoded = encode(reply)
        status = build.fault_status(reply) if reply.kind == "fault" else 200
        if reply.kind == "fault" and reply.fault is not None:
            what = message.operation or message.action or "a request"
            self.log(
                f"fault {reply.fault.subcode} ({reply.fault.detail or '-'}) for {what} from {peer}"
            )
        return web.Response(
            body=encoded.content, status=status, headers={"Content-Type": encoded.content_type}
        )

    def _base(self, request: web.Request) -> str:
        """Scheme and authority the device used, for the addresses we hand out."""
        host = (
            request.host if request.host and "/" not in request.host else f"{self.host}:{self.port}"
        )
        return f"{self.scheme}://{host}{BASE_PATH}"

    async def answer(self, message: Message, body: bytes, peer: str, *, base: str) -> Message:
        """The reply to one decoded message (a fault for anything wrong)."""
        try:
            return await self._dispatch(message, body, peer, base)
        except RemoteProtocolError as exc:
            return build.fault(message, exc.subcode, exc.detail)
        except ProtocolFault as exc:
            return build.fault(
                message,
                exc.subcode,
                exc.detail,
                code=exc.code,
                reason=str(exc),
                subcode_namespace=exc.namespace,
            )
        except Exception as exc:  # noqa: BLE001 - a bug here must still answer the device
            self.log(f"internal error answering {message.action}: {exc!r}")
            return build.fault(message, "ServerErrorInternalError")

    async def _dispatch(self, message: Message, body: bytes, peer: str, base: str) -> Message:
        if message.protocol == "not-soap" or (message.kind == "unknown" and not message.action):
            raise RemoteProtocolError(
                "not SOAP", subcode="InvalidArgs", detail="the body is not a SOAP envelope"
            )
        if message.kind != "request" or message.operation is None:
            raise _not_supported(message)
        op = message.operation
        if message.protocol == "ws-discovery" and op == "Probe":
            return build.probe_matches(message, xaddrs=base, endpoint=f"urn:uuid:{self.service_id}")
        if message.protocol == "ws-transfer" and op == "Get":
            return build.transfer_get_response(
                message,
                hosted_address=f"{base}/{self.service_id}",
                service_id=f"urn:uuid:{self.service_id}",
            )
        if message.protocol == "ws-eventing":
            return self._eventing(message, peer, base)
        if message.protocol == "ws-dsp" and op in names.OPERATIONS:
            expected = names.OPERATIONS[op][0]
            if message.body_name != expected:
                raise RemoteProtocolError(
                    "body does not match the action", subcode="InvalidArgs", detail=expected
                )
            before = self.answered.get(message)
            if before is not None:
                self._resent(op, peer, f"MessageID {message.message_id} again")
                return before
            injected = self.fault_hook(message) if self.fault_hook else None
            if injected:
                return build.fault(message, injected)
            reply = await self._operation(op, message, body, peer)
            self.answered.keep(message, reply)
            return reply
        raise _not_supported(message)

    # ------------------------------------------------------------ WS-DSP

    async def _operation(self, op: str, message: Message, body: bytes, peer: str) -> Message:
        if op == "CreatePostScanJob":
            job = self.jobs.create(message, peer)
            self.log(
                f"job {job.short} created by {peer}: user {job.user}, {len(job.filters)} filter(s)"
            )
            self._status(job)
            return build.response(message, {"JobToken": job.token})
        if op == "GetPostScanJobElements":
            _, elements = self.jobs.elements(message)
            return build.response(message, elements)
        lock = self._lock_for(message)
        async with lock:
            if op == "SendImage":
                await self._send_image(message, body, peer)
            elif op == "EndPostScanJob":
                job = self.jobs.end(message)
                self.log(f"job {job.short} ended: {job.images} image(s)")
                self._status(job)
                self._spawn(self._process(job))
            elif op == "CancelPostScanJob":
                job = self.jobs.cancel(message)
                self.log(f"job {job.short} canceled after {job.images} image(s)")
                self._status(job)
                self._emit(
                    job, "PostScanJobEndStateEvent", {"PostScanJobEndState": job.end_state()}
                )
                self._spawn(self._discard(job))
        return build.response(message)

    async def _send_image(self, message: Message, body: bytes, peer: str) -> None:
        job, document, attachment, resent = self.jobs.accept_image(message, body)
        if resent:
            self._resent("SendImage", peer, f"DocumentId {document.document_id} of job {job.short} "
                         "with the same image")
            return
        first = job.images == 1
        if self.store is not None:
            try:
                document.staged = await asyncio.to_thread(
                    self.store.stage, job.token, job.images, attachment.data(body)
                )
            except OSError:
                job.documents.remove(document)
                raise RemoteProtocolError(
                    "cannot stage the image", subcode="ServerErrorInternalError"
                ) from None
        if first:
            self._status(job)

    def _resent(self, op: str, peer: str, what: str) -> None:
        """A device sent a request again (its answer was lost): answered as
        before, its work not done twice."""
        self.resends += 1
        self.log(f"resend of {op} from {peer} ({what}): answered as before, done once")

    def _lock_for(self, message: Message) -> asyncio.Lock:
        """SendImage/End/Cancel of one job run one at a time (staging awaits the disk)."""
        key = message.job_token or ""
        if len(self._locks) > 10_000:
            self._locks = {k: v for k, v in self._locks.items() if v.locked()}
        return self._locks.setdefault(key, asyncio.Lock())

    async def _process(self, job: ServerJob) -> None:
        await self.filters.run(job)
        job.complete(self.jobs.now())
        self.log(f"job {job.short} {(job.completed_state or '?').lower()}: {job.images} image(s)")
        self._status(job)
        self._emit(job, "PostScanJobEndStateEvent", {"PostScanJobEndState": job.end_state()})
        self._locks.pop(job.token, None)

    async def _discard(self, job: ServerJob) -> None:
        await self.filters.discard(job)
        self._locks.pop(job.token, None)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------- events

    def _status(self, job: ServerJob) -> None:
        self._emit(job, "PostScanJobStatusEvent", {"JobStatus": job.status()})

    def _emit(self, job: ServerJob, name: str, body: dict[str, Any]) -> None:
        for sub in self.subscriptions.for_owner(job.owner, names.action_for(name)):
            self.pusher.push(sub, build.event(name, body, to=sub.notify_to))

    def _dead_sink(self, sub: Subscription, why: str) -> None:
        self.subscriptions.drop(sub)
        self.log(f"subscription {sub.identifier} of {sub.owner} ended: {why}")

    def _eventing(self, message: Message, peer: str, base: str) -> Message:
        op = message.operation
        now = self.jobs.now()
        if op == "Subscribe":
            sub = self.subscriptions.subscribe(message, peer)
            self.log(f"{peer} subscribed: events to {sub.notify_to}")
            return build.subscribe_response(
                message,
                manager=f"{base}/{self.service_id}",
                identifier=sub.identifier,
                expires=sub.expires_text(now),
            )
        if op == "Renew":
            sub = self.subscriptions.renew(message)
            return build.eventing_response(message, expires=sub.expires_text(now))
        if op == "GetStatus":
            sub = self.subscriptions.status(message)
            return build.eventing_response(message, expires=sub.expires_text(now))
        if op == "Unsubscribe":
            sub = self.subscriptions.unsubscribe(message)
            self.log(f"{peer} unsubscribed {sub.identifier}")
            return build.eventing_response(message)
        raise _not_supported(message)


def _not_supported(message: Message) -> RemoteProtocolError:
    return RemoteProtocolError(
        "action not supported",
        subcode="ActionNotSupported",
        detail=message.action or "(no wsa:Action)",
    )


def _listen_error(host: str, port: int, exc: OSError) -> str:
    where = f"{host or '*'}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the port is busy (another server runs there); "
            "choose another --port, or --port 0 for any free one"
        )
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
    return f"cannot listen on {where}: {exc.strerror or exc}"
