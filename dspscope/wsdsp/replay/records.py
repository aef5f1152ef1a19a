"""What replay knows of a capture: each recorded exchange or event decoded
(``Recorded``), and the capture analysed (``Capture``): its jobs, the slot
each exchange fills, the origins devices used, and when each event came
relative to the exchanges of its job."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from .. import names
from ..codec import AttachmentData, decode
from ..messages import Message
from .rewriting import origin_of

RecordKind = Literal["exchange", "event"]
JOB_OPERATIONS = frozenset(op for op in names.OPERATIONS if op != "CreatePostScanJob")


@dataclass(frozen=True, slots=True, eq=False)
class Recorded:
    """One recorded HTTP exchange, decoded.

    ``kind`` is "event" for a server -> device event POST, else "exchange".
    ``device`` is the device's address (the client of an exchange; for an
    event, the device it went to, when known).  Times are epoch seconds:
    ``started`` request start, ``sent`` request end, ``answered`` response
    start, ``ended`` response end (None when not recorded)."""

    index: int
    id: str
    kind: RecordKind
    device: str
    method: str
    url: str
    request: Message
    request_body: bytes
    request_content_type: str | None
    response: Message | None
    response_body: bytes
    response_content_type: str | None
    status: int | None
    started: float
    sent: float | None = None
    answered: float | None = None
    ended: float | None = None

    @property
    def duration(self) -> float | None:
        """Request start to response end, in seconds."""
        end = self.ended if self.ended is not None else self.answered
        return None if end is None else max(0.0, end - self.started)

    @property
    def server_time(self) -> float:
        """How long the server took: request end to response start."""
        if self.answered is None:
            return 0.0
        return max(0.0, self.answered - (self.sent if self.sent is not None else self.started))

    @property
    def done(self) -> float:
        """When the exchange was over, as far as the capture knows."""
        for t in (self.ended, self.answered, self.sent):
            if t is not None:
                return t
        return self.started

    @property
    def operation_key(self) -> str:
        return operation_key(self.request, self.method, self.url)

    @property
    def job_token(self) -> str | None:
        return self.request.job_token

    def attachment_data(self) -> tuple[AttachmentData, ...]:
        """The request's MTOM parts (images) as bytes, to send them again."""
        return tuple(
            AttachmentData(
                a.content_id,
                bytes(a.data(self.request_body)),
                a.content_type or "application/octet-stream",
            )
            for a in self.request.attachments
        )


def recorded(
    *,
    index: int,
    id: str,
    device: str,
    method: str,
    url: str,
    request_body: bytes,
    request_content_type: str | None,
    status: int | None,
    response_body: bytes | None,
    response_content_type: str | None,
    started: float,
    sent: float | None = None,
    answered: float | None = None,
    ended: float | None = None,
    kind: RecordKind | None = None,
) -> Recorded:
    """Decode one recorded exchange.  ``kind`` is guessed from the request
    when not given (a WS-DSP event or SubscriptionEnd is an "event")."""
    request = decode(request_body, request_content_type, hash_attachments=False)
    response = None
    if response_body is not None and status is not None:
        response = decode(response_body, response_content_type, request=request,
                          hash_attachments=False)
    if kind is None:
        kind = "event" if request.kind == "event" else "exchange"
    return Recorded(
        index=index, id=id, kind=kind, device=device, method=method, url=url,
        request=request, request_body=request_body, request_content_type=request_content_type,
        response=response, response_body=response_body or b"",
        response_content_type=response_content_type, status=status,
        started=started, sent=sent, answered=answered, ended=ended,
    )


def operation_key(request: Message, method: str, url: str) -> str:
    """What a request asks for: "ws-dsp:SendImage", "ws-transfer:Get", or
    "POST /path" for a body that is not SOAP."""
    if request.protocol == "not-soap" or not (request.operation or request.body_name):
        return f"{method} {urlsplit(url).path or '/'}"
    return f"{request.protocol}:{request.operation or request.body_name}"


Slot = tuple[str, str, str]
"""(device or "", group, operation key).  Group is "create", "job:<token>",
"unissued" (a JobToken the recorded server never issued) or "session"."""


class Capture:
    """A capture analysed for replay.

    Jobs are keyed by the JobToken the recorded server issued.  Each exchange
    gets a slot: a CreatePostScanJob is the device's n-th create; a request
    of a job is the n-th of its operation in that job (any device); anything
    else is the device's n-th of that operation.  Each event is anchored to
    the exchange of its job after which it was sent, with the delay."""

    def __init__(self, items: Iterable[Recorded]) -> None:
        self.items: list[Recorded] = list(items)
        self.exchanges = [r for r in self.items if r.kind == "exchange"]
        self.events = [r for r in self.items if r.kind == "event"]
        self.creates: dict[str, Recorded] = {}
        self.slots: dict[int, Slot] = {}
        self.candidates: dict[Slot, list[Recorded]] = {}
        self.devices: list[str] = []
        #: Origins the devices talked to or were told to talk to (recorded
        #: server, or the proxy that rewrote its addresses).
        self.origins: set[str] = set()
        self.job_devices: dict[str, str] = {}
        for rec in self.exchanges:
            if rec.device not in self.devices:
                self.devices.append(rec.device)
            for url in (rec.url, rec.request.to or ""):
                origin = origin_of(url)
                if origin:
                    self.origins.add(origin)
            if rec.response is not None:
                self.origins.update(o for o in map(origin_of, advertised(rec.response.fields)) if o)
            token = issued_token(rec)
            if token is not None and token not in self.creates:
                self.creates[token] = rec
                self.job_devices[token] = rec.device
            slot = self._slot(rec)
            self.slots[rec.index] = slot
            self.candidates.setdefault(slot, []).append(rec)
        self.anchors: dict[int, list[tuple[Recorded, float]]] = {}
        self.unanchored: list[Recorded] = []
        for ev in self.events:
            anchor = self._anchor(ev)
            if anchor is None:
                self.unanchored.append(ev)
            else:
                delay = max(0.0, ev.started - anchor.done)
                self.anchors.setdefault(anchor.index, []).append((ev, delay))

    def job_of(self, rec: Recorded) -> str | None:
        """The recorded JobToken of the job an exchange or event belongs to."""
        token = issued_token(rec)
        if token is not None:
            return token
        token = rec.request.job_token
        return token if token in self.creates else None

    def _slot(self, rec: Recorded) -> Slot:
        token = rec.request.job_token
        job = token if token is not None and token in self.creates else None
        return slot_of(rec.request, device=rec.device, method=rec.method, url=rec.url, job=job)

    def _anchor(self, ev: Recorded) -> Recorded | None:
        token = self.job_of(ev)
        if token is not None:
            mine = [r for r in self.exchanges if self.job_of(r) == token and r.done <= ev.started]
            return mine[-1] if mine else self.creates[token]
        before = [r for r in self.exchanges if r.done <= ev.started]
        if before:
            return before[-1]
        return self.exchanges[0] if self.exchanges else None


def slot_of(request: Message, *, device: str, method: str, url: str, job: str | None) -> Slot:
    """Which recorded exchanges a request can be matched with.  ``job`` is
    the (recorded) JobToken of the job its JobToken belongs to, if any."""
    op = operation_key(request, method, url)
    if request.protocol == "ws-dsp" and request.operation == "CreatePostScanJob":
        return (device, "create", op)
    if request.protocol == "ws-dsp" and request.operation in JOB_OPERATIONS:
        if job is not None:
            return ("", "job:" + job, op)
        return (device, "unissued", op)
    return (device, "session", op)


def advertised(fields: Any) -> Iterable[str]:
    """The http(s) addresses a server hands out: ``Address`` elements and
    ``XAddrs`` lists (service endpoint, subscription manager)."""
    if isinstance(fields, Mapping):
        for key, value in fields.items():
            if key in ("Address", "XAddrs") and isinstance(value, str):
                yield from (u for u in value.split() if origin_of(u))
            else:
                yield from advertised(value)
    elif isinstance(fields, list):
        for item in fields:
            yield from advertised(item)


def issued_token(rec: Recorded) -> str | None:
    """The JobToken a CreatePostScanJob exchange's response issued."""
    req, resp = rec.request, rec.response
    if req.operation != "CreatePostScanJob" or req.protocol != "ws-dsp":
        return None
    if resp is None or resp.kind != "response":
        return None
    return resp.job_token
