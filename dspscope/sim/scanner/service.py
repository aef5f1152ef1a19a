"""The simulated WSD scanner: WS-Scan at ``/WSDScan`` over aiohttp, with
the WS-Transfer Get metadata and WS-Discovery Probe answers a client may
ask first, and WS-Eventing subscriptions to its job and status events.

Embed it::

    async with SimulatedScanner(port=0, tls_on=False) as scanner:
        print(scanner.url)       # http://127.0.0.1:PORT/WSDScan

Requests are decoded with ``wsdsp.decode``; answers are built by
``wsdsp.scanbuild`` and encoded by ``wsdsp.encode``; pages are real images
of the ticket's size from ``sim.images``.  Faults follow the WS-Scan
error-code pages and carry HTTP 400 (Sender) or 500 (Receiver).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from dspscope.sim import images, tls
from dspscope.sim.errors import ProtocolFault, SimError
from dspscope.sim.eventing import Subscription, Subscriptions
from dspscope.sim.listener import MAX_BODY, Listener, read_message
from dspscope.sim.push import EventPusher
from dspscope.sim.scanner.jobs import ScanJob, ScanJobs
from dspscope.sim.scanner.model import ScanFault, ScannerModel
from dspscope.wsdsp import AttachmentData, Message, build, encode, scanbuild, wsscan
from dspscope.wsdsp.values import new_guid

PATH = "/WSDScan"
MEDIA_TYPES = {"jfif": "image/jpeg", "exif": "image/jpeg", "png": "image/png",
               "tiff-single-uncompressed": "image/tiff"}

Log = Callable[[str], None]
#: fault_hook(operation, request) may name a WS-Scan subcode to answer with.
FaultHook = Callable[[str, Message], str | None]


class SimulatedScanner(Listener):
    """A stateful WSD scanner on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5358,
        *,
        tls_on: bool = True,
        cert: Path | None = None,
        key: Path | None = None,
        config_dir: Path | None = None,
        model: ScannerModel | None = None,
        fault_hook: FaultHook | None = None,
        log: Log | None = None,
    ) -> None:
        super().__init__(host, port, tls_on=tls_on)
        self.cert, self.key, self.config_dir = cert, key, config_dir
        self.model = model or ScannerModel()
        self.fault_hook = fault_hook
        self.log: Log = log or (lambda _line: None)
        self.device_id = f"urn:uuid:{new_guid()}"
        self.service_id = f"urn:uuid:{new_guid()}"
        self.jobs = ScanJobs()
        self.subscriptions = Subscriptions(self.jobs.now)
        self.pusher = EventPusher(on_dead=self._dead_sink)
        self.exchanges = 0
        self.pages_sent = 0

    @property
    def url(self) -> str:
        """The scan service's address: what a client is configured with."""
        return f"{self.origin}{PATH}"

    async def start(self) -> None:
        context = None
        if self.tls_on:
            self.cert, self.key, context = tls.serving(self.cert, self.key, self.config_dir)
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(PATH, self._handle)
        app.router.add_post("/", self._handle)  # metadata and discovery at the root too
        try:
            await self._listen(app, context)
        except OSError as exc:
            raise SimError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
                           ) from None
        await self.pusher.start()

    async def stop(self) -> None:
        if not await self._unlisten():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self.pusher.drain()
        await self.pusher.close()

    # ------------------------------------------------------------- requests

    async def _handle(self, request: web.Request) -> web.Response:
        _, message = await read_message(request)
        self.exchanges += 1
        peer = request.remote or "?"
        base = f"{self.scheme}://{request.host or f'{self.host}:{self.port}'}{PATH}"
        reply, attachments = self.answer(message, peer, base)
        encoded = encode(reply, attachments)
        status = build.fault_status(reply) if reply.kind == "fault" else 200
        if reply.fault is not None:
            what = message.operation or message.action or "a request"
            self.log(f"fault {reply.fault.subcode} ({reply.fault.detail or '-'}) for {what} "
                     f"from {peer}")
        return web.Response(body=encoded.content, status=status,
                            headers={"Content-Type": encoded.content_type})

    def answer(self, message: Message, peer: str, base: str
               ) -> tuple[Message, tuple[AttachmentData, ...]]:
        """The reply to one decoded message (a fault for anything wrong)."""
        op = operation_of(message)
        try:
            if op is not None:
                injected = self.fault_hook(op, message) if self.fault_hook else None
                if injected:
                    raise ScanFault(injected)
                return self._operation(op, message, peer)
            return self._other(message, peer, base), ()
        except ScanFault as exc:
            return scanbuild.fault(message, exc.subcode, exc.detail), ()
        except ProtocolFault as exc:
            return build.fault(message, exc.subcode, exc.detail, code=exc.code, reason=str(exc),
                               subcode_namespace=exc.namespace), ()
        except Exception as exc:  # noqa: BLE001 - a bug here must still answer the client
            self.log(f"internal error answering {message.action}: {exc!r}")
            return scanbuild.fault(message, "ServerErrorInternalError"), ()

    def _other(self, message: Message, peer: str, base: str) -> Message:
        if message.protocol == "ws-transfer" and message.operation == "Get":
            return scanbuild.transfer_get_response(
                message, hosted_address=base, service_id=self.service_id,
                device_id=self.device_id, friendly_name=self.model.name)
        if message.protocol == "ws-discovery" and message.operation == "Probe":
            return scanbuild.probe_matches(message, xaddrs=base, endpoint=self.device_id)
        if message.protocol == "ws-eventing":
            return self._eventing(message, peer, base)
        if message.protocol == "not-soap" or not message.action:
            raise ScanFault("InvalidArgs", "the body is not a SOAP envelope with a wsa:Action")
        raise ScanFault("ActionNotSupported", message.action)

    # ------------------------------------------------------------ WS-Scan

    def _operation(self, op: str, message: Message, peer: str
                   ) -> tuple[Message, tuple[AttachmentData, ...]]:
        body = message.body
        if message.body_name != wsscan.OPERATIONS[op][0]:
            raise ScanFault("InvalidArgs", wsscan.OPERATIONS[op][0])
        if op == "GetScannerElements":
            wanted = _names(body.get("RequestedElements"))
            now, active = self.jobs.now(), len(self.jobs.active())
            data = [scanbuild.element_data(f"wscn:{name}", self.model.elements(name, now, active))
                    for name in wanted]
            if not data:
                raise ScanFault("InvalidArgs", "RequestedElements")
            return scanbuild.response(message, {"ScannerElements": {"ElementData": data}}), ()
        if op == "ValidateScanTicket":
            ticket = self.model.read_ticket(body.get("ScanTicket"))
            info = {"ValidTicket": True, "ImageInformation": ticket.image_information()}
            return scanbuild.response(message, {"ValidationInfo": info}), ()
        if op == "CreateScanJob":
            return self._create(message, peer), ()
        if op == "RetrieveImage":
            return self._retrieve(message)
        if op == "GetJobElements":
            job = self.jobs.find(body.get("JobId"))
            data = [scanbuild.element_data(f"wscn:{name}", self._job_element(job, name))
                    for name in _names(body.get("RequestedElements"))]
            return scanbuild.response(message, {"JobElements": {"ElementData": data}}), ()
        if op == "CancelJob":
            job = self.jobs.find(body.get("JobId"))
            self.jobs.cancel(job)
            self.log(f"job {job.job_id} canceled after {job.retrieved} page(s)")
            self._job_events(job)
            return scanbuild.response(message), ()
        if op == "GetActiveJobs":
            jobs = [job.summary() for job in self.jobs.active()]
            return scanbuild.response(message, {"ActiveJobs": {"JobSummary": jobs} if jobs else {}}), ()
        if op == "GetJobHistory":
            jobs = [job.summary() for job in self.jobs.history()]
            return scanbuild.response(message, {"JobHistory": {"JobSummary": jobs} if jobs else {}}), ()
        raise ScanFault("ActionNotSupported", message.action)

    def _create(self, message: Message, peer: str) -> Message:
        ticket = self.model.read_ticket(message.body.get("ScanTicket"))
        was_idle = not self.jobs.active()
        job = self.jobs.create(ticket, self.model.pages_for(ticket), peer)
        width, height = ticket.pixels
        self.log(f"job {job.job_id} created by {peer}: {ticket.source}, {ticket.format}, "
                 f"{ticket.colour}, {ticket.resolution[0]} dpi, {width}x{height} px, "
                 f"{job.pages} page(s)")
        if was_idle:
            self._status_summary()
        self._job_events(job)
        return scanbuild.response(message, {
            "JobId": job.job_id,
            "JobToken": job.token,
            "ImageInformation": ticket.image_information(),
            "DocumentFinalParameters": self.model.final_parameters(ticket),
        })

    def _retrieve(self, message: Message) -> tuple[Message, tuple[AttachmentData, ...]]:
        body = message.body
        job = self.jobs.find(body.get("JobId"), body.get("JobToken"), check_token=True)
        number = self.jobs.next_page(job)
        ticket = job.ticket
        width, height = ticket.pixels
        data = images.page_of_size(ticket.format, width, height, ticket.colour,
                                   seed=job.job_id * 1000 + number)
        cid = f"page{number}.job{job.job_id}@dspscope"
        self.pages_sent += 1
        self.log(f"job {job.job_id}: page {number}/{job.pages} ({len(data)} bytes)")
        self._job_events(job)
        if not job.active and not self.jobs.active():
            self._status_summary()
        reply = scanbuild.response(message, scanbuild.scan_data(cid))
        return reply, (AttachmentData(cid, data, MEDIA_TYPES.get(ticket.format,
                                                                  "application/octet-stream")),)

    def _job_element(self, job: ScanJob, name: str) -> Any | None:
        if name == "JobStatus":
            return job.status()
        if name == "ScanTicket":
            return job.ticket.raw or None
        if name == "Documents":
            final = self.model.final_parameters(job.ticket)
            return {"DocumentFinalParameters": final}
        return None

    # -------------------------------------------------------------- events

    def _job_events(self, job: ScanJob) -> None:
        self._emit("JobStatusEvent", {"JobStatus": job.status()})
        if not job.active:
            self.log(f"job {job.job_id} {job.state.lower()}: {job.retrieved} page(s)")
            self._emit("JobEndStateEvent", {"JobEndState": job.end_state()})

    def _status_summary(self) -> None:
        status = self.model.status(self.jobs.now(), len(self.jobs.active()))
        summary = {"ScannerState": status["ScannerState"],
                   "ScannerStateReasons": status["ScannerStateReasons"]}
        self._emit("ScannerStatusSummaryEvent", {"StatusSummary": summary})

    def _emit(self, name: str, body: dict[str, Any]) -> None:
        action = wsscan.action_for(name)
        for sub in list(self.subscriptions.active.values()):
            if sub.wants(action):
                self.pusher.push(sub, scanbuild.event(name, body, to=sub.notify_to))

    def _dead_sink(self, sub: Subscription, why: str) -> None:
        self.subscriptions.drop(sub)
        self.log(f"subscription {sub.identifier} of {sub.owner} ended: {why}")

    def _eventing(self, message: Message, peer: str, base: str) -> Message:
        op, now = message.operation, self.jobs.now()
        if op == "Subscribe":
            sub = self.subscriptions.subscribe(message, peer)
            self.log(f"{peer} subscribed: events to {sub.notify_to}")
            return build.subscribe_response(message, manager=base, identifier=sub.identifier,
                                            expires=sub.expires_text(now))
        if op in ("Renew", "GetStatus"):
            sub = (self.subscriptions.renew if op == "Renew" else self.subscriptions.status)(message)
            return build.eventing_response(message, expires=sub.expires_text(now))
        if op == "Unsubscribe":
            self.subscriptions.unsubscribe(message)
            return build.eventing_response(message)
        raise ScanFault("ActionNotSupported", message.action or "")


def operation_of(message: Message) -> str | None:
    """The WS-Scan operation a request asks for (None: not a WS-Scan request)."""
    if message.protocol == "ws-scan":
        return message.operation if message.kind == "request" else None
    body_ns = message.namespaces.get(message.body_name or "", "")
    found = wsscan.classify(message.action, message.body_name, body_ns)
    if found is None or found[0] != "request":
        return None
    return found[1]


def _names(requested: Any) -> list[str]:
    """Local names of a RequestedElements' Name entries ("wscn:X" -> "X")."""
    if not isinstance(requested, dict):
        return []
    entries = requested.get("Name")
    if not isinstance(entries, list):
        entries = [entries] if entries is not None else []
    return [str(e).strip().rpartition(":")[2] for e in entries if isinstance(e, str) and e.strip()]
