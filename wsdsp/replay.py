"""Protocol-aware replay of recorded WS-DSP sessions, sans I/O.

Replaying WS-DSP byte for byte cannot work: every request carries a fresh
``wsa:MessageID`` that the response must answer in ``wsa:RelatesTo``, and the
server mints the JobToken that every later request of the job carries.  This
module holds the protocol logic of replay; ``addons/replay`` does the I/O.

Pieces (all pure: messages and bytes in, messages and bytes out):

``Recorded`` / ``recorded(...)``
    One recorded exchange (device -> server) or event (server -> device):
    decoded messages, raw bodies, HTTP status and times.  ``recorded()``
    builds one from raw bytes with ``wsdsp.decode``.
``Capture``
    A capture analysed: its jobs (by recorded JobToken), each exchange's
    slot (which request it answers: operation, job, position in the job,
    device), the origins the devices talked to, and when each recorded event
    happened relative to the exchanges of its job.
``ServerReplay``
    Plays the recorded server.  ``answer(request, device=...)`` matches the
    request to a recorded exchange (operation, the n-th of that operation in
    the job, device, optional XPath ``keys``; never raw bytes) and returns an
    ``Answer``: the recorded response regenerated (fresh MessageID, RelatesTo
    = the incoming MessageID, JobTokens mapped per job, recorded or fresh),
    and the recorded events to send to the device's current NotifyTo now.
``ClientReplay``
    Plays the recorded devices.  ``steps`` are the recorded requests in
    capture order with what each must wait for; ``prepare(step)`` rewrites
    one (fresh MessageID, live JobTokens and other server-minted ids, target
    origin, NotifyTo) and ``observe(...)`` compares the live answer with the
    recorded one and learns the ids it minted.
``compare_messages(...)`` / ``Difference`` / ``ExchangeResult``
    The semantic comparison: MessageID, RelatesTo, JobToken values (beyond
    their consistency), other server-minted GUIDs, URL origins and
    xs:dateTime values are ignored; changed, added and removed fields,
    faults that appeared, vanished or changed, status codes, wrong RelatesTo
    and latency beyond a threshold are reported.

The async API on top (for the CLI and the viewer) is documented in
``addons/replay/__init__.py``.
"""

from __future__ import annotations

import fnmatch
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from lxml import etree

from . import build, names
from .codec import AttachmentData, decode, encode
from .errors import LocalProtocolError
from .messages import Message
from .values import new_guid, new_message_id, normalize_guid

RecordKind = Literal["exchange", "event"]
Timing = Literal["recorded", "none"]
Severity = Literal["error", "warning"]

_GUID_IN_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_DATETIME = re.compile(
    r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"
)
_ORIGIN = re.compile(r"https?://[^/\s?#]+", re.IGNORECASE)

#: Operations whose recorded answer may be given again when the device asks
#: more often than the capture shows (they change no state).
_REPEATABLE_DSP = frozenset({"GetPostScanJobElements"})
_JOB_OPERATIONS = frozenset(op for op in names.OPERATIONS if op != "CreatePostScanJob")


# ------------------------------------------------------------------ records


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


def origin_of(url: str) -> str | None:
    """scheme://host:port of an absolute http(s) URL, lower case."""
    match = _ORIGIN.match(url.strip())
    return match.group(0).lower() if match else None


# ------------------------------------------------------------------ capture


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
            token = _issued_token(rec)
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
        token = _issued_token(rec)
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
    if request.protocol == "ws-dsp" and request.operation in _JOB_OPERATIONS:
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


def _issued_token(rec: Recorded) -> str | None:
    """The JobToken a CreatePostScanJob exchange's response issued."""
    req, resp = rec.request, rec.response
    if req.operation != "CreatePostScanJob" or req.protocol != "ws-dsp":
        return None
    if resp is None or resp.kind != "response":
        return None
    return resp.job_token


# -------------------------------------------------------------- rewriting


@dataclass(slots=True)
class Rewriter:
    """Rewrites string values: GUIDs (in any form, also inside URLs) by
    ``guids`` (normalised -> new, normalised), then URL origins by
    ``origins`` (lower-case recorded origin -> new origin)."""

    guids: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def text(self, value: str) -> str:
        if self.guids and _GUID_IN_TEXT.search(value):
            value = _GUID_IN_TEXT.sub(self._guid, value)
        if self.origins:
            value = _ORIGIN.sub(self._origin, value)
        return value

    def tree(self, node: Any) -> Any:
        return map_strings(node, self.text)

    def _guid(self, match: re.Match[str]) -> str:
        old = match.group(0)
        new = self.guids.get(old.lower())
        if new is None:
            return old
        return new.upper() if old.isupper() else new

    def _origin(self, match: re.Match[str]) -> str:
        old = match.group(0)
        return self.origins.get(old.lower(), old)


def map_strings(node: Any, fn: Callable[[str], str]) -> Any:
    """A copy of a decoded field tree with every string passed through fn."""
    if isinstance(node, Mapping):
        return {k: map_strings(v, fn) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [map_strings(v, fn) for v in node]
    if isinstance(node, str):
        return fn(node)
    return node


def rewrite(
    message: Message,
    rewriter: Rewriter,
    *,
    message_id: str | None = None,
    relates_to: str | None = None,
) -> Message:
    """A copy of ``message`` with new addressing and rewritten values.

    A header the original lacked stays absent (a replay reproduces the
    recorded peer's omissions); one it had gets ``message_id`` (fresh when
    None) and ``relates_to``."""
    token = message.job_token
    return replace(
        message,
        message_id=(message_id or new_message_id()) if message.message_id is not None else None,
        relates_to=relates_to if message.relates_to is not None else None,
        to=rewriter.text(message.to) if message.to else message.to,
        fields=rewriter.tree(message.fields),
        headers=rewriter.tree(message.headers),
        job_token=normalize_guid(rewriter.text(token)) if token else None,
        findings=(),
    )


def set_notify_to(message: Message, address: str) -> Message:
    """A Subscribe with its Delivery/NotifyTo/Address replaced."""
    fields = map_strings(message.fields, lambda s: s)
    body = fields.get("Subscribe")
    delivery = body.get("Delivery") if isinstance(body, dict) else None
    notify = delivery.get("NotifyTo") if isinstance(delivery, dict) else None
    if not isinstance(notify, dict) or "Address" not in notify:
        return message
    notify["Address"] = address
    return replace(message, fields=fields)


def notify_to(message: Message) -> str | None:
    """The event sink a WS-Eventing Subscribe names."""
    if message.protocol != "ws-eventing" or message.operation != "Subscribe":
        return None
    if message.kind != "request":
        return None
    delivery = message.body.get("Delivery")
    notify = delivery.get("NotifyTo") if isinstance(delivery, Mapping) else None
    address = notify.get("Address") if isinstance(notify, Mapping) else None
    return address.strip() if isinstance(address, str) and address.strip() else None


# ------------------------------------------------------------------ XPath keys


class Keys:
    """XPath expressions whose values must be equal for a live request to
    match a recorded one (``--key``).  Prefixes are the usual ones
    (dsp, psp, wsa, soap, ...); the expression sees the envelope as
    ``wsdsp.encode`` builds it, so the sender's prefixes do not matter."""

    def __init__(self, expressions: Sequence[str]) -> None:
        self.expressions = tuple(expressions)
        self._compiled: list[etree.XPath] = []
        for expr in self.expressions:
            try:
                self._compiled.append(etree.XPath(expr, namespaces=dict(names.PREFIXES)))
            except etree.XPathSyntaxError as exc:
                raise ValueError(f"bad XPath {expr!r}: {exc}") from None
        self._cache: dict[int, tuple[str, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._compiled)

    def values(self, message: Message, *, cache_key: int | None = None) -> tuple[str, ...]:
        if not self._compiled or message.protocol == "not-soap":
            return ()
        if cache_key is not None and cache_key in self._cache:
            return self._cache[cache_key]
        try:
            root = etree.fromstring(encode(replace(message, attachments=())).content)
        except (LocalProtocolError, etree.XMLSyntaxError):
            return ()
        out = tuple(_xpath_text(xp(root)) for xp in self._compiled)
        if cache_key is not None:
            self._cache[cache_key] = out
        return out


def _xpath_text(result: Any) -> str:
    if isinstance(result, list):
        return "|".join(_xpath_text(r) for r in result)
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float) and result.is_integer():
        return str(int(result))
    if isinstance(result, str | int | float):
        return str(result).strip()
    return " ".join("".join(result.itertext()).split())


# ------------------------------------------------------------- server replay


@dataclass(frozen=True, slots=True, eq=False)
class OutgoingEvent:
    """A recorded event regenerated for the live device.  ``url`` is the
    device's current NotifyTo (None when it never subscribed: not sent)."""

    recorded: Recorded
    url: str | None
    delay: float
    message: Message | None
    content: bytes
    content_type: str | None


@dataclass(frozen=True, slots=True, eq=False)
class Answer:
    """What to answer one live request with.

    ``recorded`` is None when nothing matched (``content`` is then a fault
    saying so; the caller may answer 404 or forward instead).  ``status`` 0
    means the recorded server never answered.  ``delay`` is the recorded
    server time (zero unless timing is "recorded"); ``events`` are due after
    this answer is sent, each after its own delay."""

    recorded: Recorded | None
    status: int
    content: bytes
    content_type: str | None
    message: Message | None
    delay: float = 0.0
    events: tuple[OutgoingEvent, ...] = ()
    note: str = ""


@dataclass(slots=True)
class _LiveDevice:
    recorded_device: str | None
    notify_to: str | None = None


class ServerReplay:
    """The recorded server, answering live requests.

    ``fresh_tokens`` issues a new JobToken per replayed job instead of the
    recorded one; ``origins`` maps recorded URL origins (lower case) to the
    replay server's, so addresses in responses (hosted service, subscription
    manager) lead the device back to the replay; ``keys`` are XPath match
    keys; ``timing`` "recorded" keeps the recorded server time and event
    delays."""

    def __init__(
        self,
        capture: Capture,
        *,
        fresh_tokens: bool = False,
        origins: Mapping[str, str] | None = None,
        keys: Sequence[str] = (),
        timing: Timing = "none",
        max_remembered: int = 10_000,
    ) -> None:
        self.capture = capture
        self.fresh_tokens = fresh_tokens
        self.timing = timing
        self.keys = Keys(keys)
        self.origins = {k.lower(): v for k, v in (origins or {}).items()}
        self.used: set[int] = set()
        self.live_jobs: dict[str, str] = {}  # live token -> recorded token
        self.tokens: dict[str, str] = {}  # recorded token -> live token
        self.devices: dict[str, _LiveDevice] = {}
        self._answered: OrderedDict[str, Recorded] = OrderedDict()
        self._max = max_remembered
        self.unmatched = 0

    # ---------------------------------------------------------------- API

    def answer(
        self, request: Message, *, device: str, method: str = "POST", url: str = "/"
    ) -> Answer:
        live = self._device(device)
        address = notify_to(request)
        if address is not None:
            live.notify_to = address
        retry = self._retry_of(request, live, method, url)
        rec = retry or self._match(request, live, method, url)
        if rec is None:
            self.unmatched += 1
            status, encoded = unmatched_fault(request, "no recorded exchange matches this request")
            return Answer(None, status, encoded.content, encoded.content_type, None,
                          note=self._describe(request, live, method, url))
        if retry is None:
            self.used.add(rec.index)
            if request.message_id:
                self._remember(request.message_id, rec)
            self._issue(rec)
        answer = self._regenerate(rec, request)
        if retry is not None:
            return replace(answer, note="retry: same recorded answer again")
        return replace(answer, events=self._events_after(rec, live))

    def forget_subscription(self, device: str) -> None:
        self._device(device).notify_to = None

    def pending_events(self) -> list[Recorded]:
        """Recorded events whose anchor exchange was never replayed."""
        return [ev for idx, evs in self.capture.anchors.items() if idx not in self.used
                for ev, _ in evs]

    # ------------------------------------------------------------ matching

    def _device(self, device: str) -> _LiveDevice:
        live = self.devices.get(device)
        if live is None:
            recorded_devices = self.capture.devices
            taken = {d.recorded_device for d in self.devices.values()}
            if device in recorded_devices:
                chosen: str | None = device
            else:
                free = [d for d in recorded_devices if d not in taken]
                chosen = free[0] if free else (recorded_devices[0] if len(recorded_devices) == 1 else None)
            live = self.devices[device] = _LiveDevice(chosen)
        return live

    def _slot(self, request: Message, live: _LiveDevice, method: str, url: str) -> Slot:
        job = self.live_jobs.get(request.job_token or "")
        return slot_of(request, device=live.recorded_device or "", method=method, url=url, job=job)

    def _match(self, request: Message, live: _LiveDevice, method: str, url: str) -> Recorded | None:
        if live.recorded_device is None:
            return None
        slot = self._slot(request, live, method, url)
        candidates = self.capture.candidates.get(slot, [])
        if self.keys:
            wanted = self.keys.values(request)
            candidates = [c for c in candidates
                          if self.keys.values(c.request, cache_key=c.index) == wanted]
        fresh = next((c for c in candidates if c.index not in self.used), None)
        if fresh is not None or not candidates:
            return fresh
        if _repeatable(request):
            return candidates[-1]
        return None

    def _describe(self, request: Message, live: _LiveDevice, method: str, url: str) -> str:
        if live.recorded_device is None:
            return "no recorded device is left for this live device"
        device, group, op = self._slot(request, live, method, url)
        where = group.replace("job:", "job ")
        have = len(self.capture.candidates.get((device, group, op), []))
        return f"{op} in {where}: the capture has {have}, all used or none with equal keys"

    def _retry_of(self, request: Message, live: _LiveDevice, method: str, url: str) -> Recorded | None:
        """The recorded exchange to answer a resent request (same MessageID)
        with again, unless the recording shows the same resend: then the
        next recorded attempt answers it, as it did then."""
        if not request.message_id:
            return None
        before = self._answered.get(normalize_guid(request.message_id))
        if before is None:
            return None
        nxt = self._match(request, live, method, url)
        if nxt is not None and _same_id(nxt.request.message_id, before.request.message_id):
            return None
        return before

    def _remember(self, message_id: str, rec: Recorded) -> None:
        self._answered[normalize_guid(message_id)] = rec
        while len(self._answered) > self._max:
            self._answered.popitem(last=False)

    def _issue(self, rec: Recorded) -> None:
        token = _issued_token(rec)
        if token is None:
            return
        live = new_guid() if self.fresh_tokens else token
        self.tokens[token] = live
        self.live_jobs[live] = token

    # --------------------------------------------------------- regeneration

    def _rewriter(self) -> Rewriter:
        guids = {k: v for k, v in self.tokens.items() if k != v}
        return Rewriter(guids=guids, origins=self.origins)

    def _regenerate(self, rec: Recorded, request: Message) -> Answer:
        delay = rec.server_time if self.timing == "recorded" else 0.0
        resp = rec.response
        if resp is None or rec.status is None:
            return Answer(rec, 0, b"", None, None, delay, note="the recorded server never answered")
        if resp.protocol == "not-soap":
            return Answer(rec, rec.status, rec.response_body, rec.response_content_type, None, delay)
        message = rewrite(resp, self._rewriter(), relates_to=request.message_id)
        encoded = encode(message)
        return Answer(rec, rec.status, encoded.content, encoded.content_type, message, delay)

    def _events_after(self, rec: Recorded, live: _LiveDevice) -> tuple[OutgoingEvent, ...]:
        out = []
        rewriter = self._rewriter()
        for ev, delay in self.capture.anchors.get(rec.index, []):
            target = self._event_target(ev, live)
            message = None
            content, content_type = ev.request_body, ev.request_content_type
            if ev.request.protocol != "not-soap":
                message = rewrite(ev.request, rewriter)
                if target:
                    message = replace(message, to=target)
                encoded = encode(message)
                content, content_type = encoded.content, encoded.content_type
            out.append(OutgoingEvent(ev, target, delay if self.timing == "recorded" else 0.0,
                                     message, content, content_type))
        return tuple(out)

    def _event_target(self, ev: Recorded, live: _LiveDevice) -> str | None:
        token = self.capture.job_of(ev)
        if token is not None:
            owner = self.capture.job_devices.get(token)
            for dev in self.devices.values():
                if dev.recorded_device == owner and dev.notify_to:
                    return dev.notify_to
        return live.notify_to


def _repeatable(request: Message) -> bool:
    if request.protocol == "ws-dsp":
        return request.operation in _REPEATABLE_DSP
    return True


def unmatched_fault(request: Message | None, detail: str) -> tuple[int, Any]:
    """(status, Encoded) of the fault that answers a request no recorded
    exchange matches."""
    req = request if request is not None and request.protocol != "not-soap" else None
    message = build.fault(req, "OperationFailed", detail)
    return build.fault_status(message), encode(message)


# ------------------------------------------------------------- comparison


DifferenceKind = Literal[
    "status", "kind", "fault-appeared", "fault-vanished", "fault-changed",
    "field-changed", "field-added", "field-removed", "relates-to", "latency",
    "no-response", "transport", "event-missing", "event-unexpected",
]


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the live behaviour differs from the recorded one."""

    kind: DifferenceKind
    path: str
    recorded: Any
    live: Any
    severity: Severity = "error"

    def text(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.kind}: {where}{_short(self.recorded)} -> {_short(self.live)}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "recorded": _jsonable(self.recorded),
                "live": _jsonable(self.live), "severity": self.severity}


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return map_strings(value, lambda s: s) if isinstance(value, Mapping | list) else str(value)


class Correlation:
    """What ties recorded values to live ones across a client replay.

    Identifiers the live server mints (JobTokens, subscription ids, service
    ids in addresses) differ from the recorded ones: they are learned by
    walking the recorded and the live response side by side, then used both
    to rewrite later requests and to compare later responses.  A GUID the
    recorded devices sent themselves maps to itself, so a live server that
    echoes a different one is caught."""

    def __init__(self, capture: Capture, target_origin: str | None) -> None:
        self.guids: dict[str, str] = {}
        minted: set[str] = set()
        for rec in capture.items:
            from_server = rec.kind == "event"
            sent = _guids_in(rec.request.fields) | _guids_in(rec.request.headers)
            if from_server:
                minted |= sent
                continue
            for guid in sent - minted:
                self.guids.setdefault(guid, guid)
            if rec.response is not None:
                minted |= _guids_in(rec.response.fields) | _guids_in(rec.response.headers)
        self.origins = {o: target_origin for o in capture.origins} if target_origin else {}

    def outgoing(self) -> Rewriter:
        return Rewriter(guids=self.guids, origins=dict(self.origins))

    def learn(self, recorded: Any, live: Any) -> None:
        if isinstance(recorded, Mapping) and isinstance(live, Mapping):
            for key, value in recorded.items():
                if key in live:
                    self.learn(value, live[key])
        elif isinstance(recorded, list) and isinstance(live, list):
            for a, b in zip(recorded, live, strict=False):
                self.learn(a, b)
        elif isinstance(recorded, str) and isinstance(live, str) and recorded != live:
            old = [g.lower() for g in _GUID_IN_TEXT.findall(recorded)]
            new = [g.lower() for g in _GUID_IN_TEXT.findall(live)]
            if len(old) == len(new):
                for a, b in zip(old, new, strict=True):
                    self.guids.setdefault(a, b)

    def canon_recorded(self, value: str) -> str:
        return _canon(Rewriter(guids=self.guids).text(value))


def _guids_in(node: Any) -> set[str]:
    out: set[str] = set()

    def take(text: str) -> str:
        out.update(g.lower() for g in _GUID_IN_TEXT.findall(text))
        return text

    map_strings(node, take)
    return out


def _canon(value: str) -> str:
    """A value as compared: xs:dateTime values are equal to each other and
    URL origins do not count."""
    text = value.strip()
    if _DATETIME.fullmatch(text):
        return "<dateTime>"
    return _ORIGIN.sub("<origin>", text)


def compare_messages(
    recorded: Message,
    live: Message,
    correlation: Correlation | None = None,
    *,
    ignore: Sequence[str] = (),
) -> list[Difference]:
    """Semantic differences between a recorded and a live message (response,
    fault or event).  ``ignore`` holds fnmatch patterns of field paths."""
    out: list[Difference] = []
    rf, lf = recorded.fault, live.fault
    if rf is None and lf is not None:
        out.append(Difference("fault-appeared", "", recorded.body_name,
                              f"{lf.code}/{lf.subcode}: {lf.reason or ''}".strip()))
        return out
    if rf is not None and lf is None:
        out.append(Difference("fault-vanished", "", f"{rf.code}/{rf.subcode}", live.body_name))
        return out
    if rf is not None and lf is not None:
        if (rf.code, rf.subcode) != (lf.code, lf.subcode):
            out.append(Difference("fault-changed", "Fault/Code",
                                  f"{rf.code}/{rf.subcode}", f"{lf.code}/{lf.subcode}"))
        if _norm_detail(rf.detail, correlation) != _norm_detail(lf.detail, None):
            out.append(Difference("field-changed", "Fault/Detail", rf.detail, lf.detail))
        return out
    if recorded.kind != live.kind or recorded.operation != live.operation:
        out.append(Difference("kind", "", f"{recorded.kind} {recorded.operation}",
                              f"{live.kind} {live.operation}"))
        return out
    canon: Callable[[str], str] = correlation.canon_recorded if correlation else _canon
    _diff_tree(recorded.fields, live.fields, "", out, canon)
    _diff_tree(recorded.headers, live.headers, "Header", out, canon)
    if ignore:
        out = [d for d in out if not any(fnmatch.fnmatchcase(d.path, p) for p in ignore)]
    return out


def _norm_detail(detail: str | None, correlation: Correlation | None) -> str | None:
    if detail is None:
        return None
    return correlation.canon_recorded(detail) if correlation else _canon(detail)


def _diff_tree(rec: Any, live: Any, path: str, out: list[Difference],
               canon: Callable[[str], str]) -> None:
    if isinstance(rec, Mapping) and isinstance(live, Mapping):
        for key, value in rec.items():
            sub = f"{path}/{key}" if path else key
            if key not in live:
                out.append(Difference("field-removed", sub, value, None))
            else:
                _diff_tree(value, live[key], sub, out, canon)
        for key, value in live.items():
            if key not in rec:
                out.append(Difference("field-added", f"{path}/{key}" if path else key, None, value))
        return
    if isinstance(rec, list) and isinstance(live, list):
        for i, (a, b) in enumerate(zip(rec, live, strict=False)):
            _diff_tree(a, b, f"{path}[{i}]", out, canon)
        for i in range(len(live), len(rec)):
            out.append(Difference("field-removed", f"{path}[{i}]", rec[i], None))
        for i in range(len(rec), len(live)):
            out.append(Difference("field-added", f"{path}[{i}]", None, live[i]))
        return
    if isinstance(rec, str) and isinstance(live, str):
        if canon(rec) != _canon(live):
            out.append(Difference("field-changed", path, rec, live))
        return
    if rec != live:
        out.append(Difference("field-changed", path, rec, live))


@dataclass(frozen=True, slots=True, eq=False)
class ExchangeResult:
    """One replayed request: what was recorded, what the live server did,
    and how they differ."""

    recorded: Recorded
    sent: Message | None
    live: Message | None
    status: int | None
    latency: float | None
    differences: tuple[Difference, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.differences)

    def to_json(self) -> dict[str, Any]:
        rec = self.recorded
        return {
            "index": rec.index,
            "id": rec.id,
            "device": rec.device,
            "operation": rec.operation_key,
            "job_token": rec.request.job_token or (rec.response.job_token if rec.response else None),
            "live_job_token": (self.sent.job_token if self.sent else None)
            or (self.live.job_token if self.live else None),
            "status": {"recorded": rec.status, "live": self.status},
            "latency_ms": {"recorded": _ms(rec.duration), "live": _ms(self.latency)},
            "ok": self.ok,
            "error": self.error,
            "differences": [d.to_json() for d in self.differences],
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def compare_exchange(
    rec: Recorded,
    *,
    sent: Message | None,
    live: Message | None,
    status: int | None,
    latency: float | None,
    correlation: Correlation | None = None,
    latency_threshold: float = 1.0,
    ignore: Sequence[str] = (),
    error: str | None = None,
) -> ExchangeResult:
    """Compare one live exchange with its recording (learning the live
    server's ids on the way when a correlation is given)."""
    diffs: list[Difference] = []
    if error is not None:
        diffs.append(Difference("transport", "", rec.status, error))
        return ExchangeResult(rec, sent, live, status, latency, tuple(diffs), error)
    recorded_resp = rec.response
    if rec.status is not None and status != rec.status:
        diffs.append(Difference("status", "", rec.status, status))
    if recorded_resp is None or live is None:
        if (recorded_resp is None) != (live is None):
            diffs.append(Difference("no-response", "", _kind(recorded_resp), _kind(live)))
    elif recorded_resp.protocol == "not-soap" or live.protocol == "not-soap":
        if recorded_resp.protocol != live.protocol:
            diffs.append(Difference("kind", "", recorded_resp.protocol, live.protocol))
    else:
        if correlation is not None:
            correlation.learn(recorded_resp.fields, live.fields)
            correlation.learn(recorded_resp.headers, live.headers)
        diffs.extend(compare_messages(recorded_resp, live, correlation, ignore=ignore))
        diffs.extend(_relates_to(rec, sent, live))
    if rec.duration is not None and latency is not None:
        if abs(latency - rec.duration) > latency_threshold:
            diffs.append(Difference("latency", "", _ms(rec.duration), _ms(latency), "warning"))
    return ExchangeResult(rec, sent, live, status, latency, tuple(diffs))


def _kind(message: Message | None) -> str | None:
    return None if message is None else f"{message.kind} {message.operation or ''}".strip()


def _relates_to(rec: Recorded, sent: Message | None, live: Message) -> list[Difference]:
    """A live answer must relate to the request just sent, where the recorded
    answer related to its request."""
    recorded_resp = rec.response
    if recorded_resp is None or sent is None:
        return []
    was = _same_id(recorded_resp.relates_to, rec.request.message_id)
    now = _same_id(live.relates_to, sent.message_id)
    if was and not now:
        return [Difference("relates-to", "RelatesTo", "the request's MessageID",
                           live.relates_to or "missing")]
    return []


def _same_id(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and normalize_guid(a) == normalize_guid(b)


# ------------------------------------------------------------- client replay


@dataclass(frozen=True, slots=True, eq=False)
class Step:
    """One recorded request to send again.  It may start once every step in
    ``after`` has completed (its job's previous request, the device's
    previous session request), once the live end state of the jobs in
    ``end_states`` (recorded tokens) has arrived, as it had in the
    recording, and, at recorded speed, ``offset`` seconds after the replay
    began.  Steps start in capture order."""

    number: int
    recorded: Recorded
    after: tuple[int, ...]
    offset: float
    end_states: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class Outgoing:
    step: Step
    method: str
    url: str
    message: Message | None
    content: bytes
    content_type: str | None


def plan(capture: Capture) -> list[Step]:
    """The requests of a capture in order, with what each must wait for:
    the previous request of its job (a job's requests carry the token the
    create returned) and the device's previous non-job request (a device
    subscribes before it creates a job)."""
    steps: list[Step] = []
    last_in_job: dict[str, int] = {}
    last_of_device: dict[str, int] = {}
    first = capture.exchanges[0].started if capture.exchanges else 0.0
    ends = sorted(((e.started, capture.job_of(e)) for e in capture.events
                   if e.request.operation == "PostScanJobEndStateEvent"), key=lambda p: p[0])
    for number, rec in enumerate(capture.exchanges):
        job = capture.job_of(rec)
        previous = last_in_job.get(job) if job is not None else None
        if previous is None:
            previous = last_of_device.get(rec.device)
        if job is not None:
            last_in_job[job] = number
        else:
            last_of_device[rec.device] = number
        after = () if previous is None else (previous,)
        # a device that waited for a job's outcome before going on
        seen = tuple(t for when, t in ends if t is not None and when < rec.started)
        steps.append(Step(number, rec, after, max(0.0, rec.started - first), seen))
    return steps


class ClientReplay:
    """The recorded devices, replayed against a live server at ``target``:
    its origin replaces the recorded one; paths stay as recorded, with
    server-minted ids in them learned from live answers.  A target with a
    path (``https://srv:5362/ScanServer/<id>``) is the WS-DSP endpoint:
    WS-DSP requests go there, as when replaying one job without the
    discovery that found the endpoint.

    ``notify_to`` replaces the NotifyTo of recorded Subscribes, so the live
    server's events come to the replay and not to the recorded device."""

    def __init__(
        self,
        capture: Capture,
        target: str,
        *,
        notify_to: str | None = None,
        latency_threshold: float = 1.0,
        ignore: Sequence[str] = (),
    ) -> None:
        origin = origin_of(target)
        if origin is None:
            raise ValueError(f"target must be an http(s) URL, not {target!r}")
        self.capture = capture
        self.target_origin = origin
        self.endpoint = target if urlsplit(target).path not in ("", "/") else None
        self.notify_to = notify_to
        self.latency_threshold = latency_threshold
        self.ignore = tuple(ignore)
        self.correlation = Correlation(capture, origin)
        self.steps = plan(capture)
        self.results: dict[int, ExchangeResult] = {}
        self.live_events: list[Message] = []

    def prepare(self, step: Step) -> Outgoing:
        rec = step.recorded
        rewriter = self.correlation.outgoing()
        url = rewriter.text(rec.url)
        if origin_of(url) != self.target_origin:
            url = self.target_origin + (urlsplit(rec.url).path or "/")
            query = urlsplit(rec.url).query
            if query:
                url += "?" + query
        if rec.request.protocol == "not-soap":
            return Outgoing(step, rec.method, url, None, rec.request_body, rec.request_content_type)
        message = rewrite(rec.request, rewriter)
        if self.endpoint and message.protocol == "ws-dsp":
            url = self.endpoint
            message = replace(message, to=self.endpoint) if message.to is not None else message
        if self.notify_to and notify_to(message) is not None:
            message = set_notify_to(message, self.notify_to)
        # content ids may embed the JobToken (the href in the body was rewritten too)
        parts = tuple(replace(a, content_id=rewriter.text(a.content_id)) for a in rec.attachment_data())
        encoded = encode(message, parts)
        return Outgoing(step, rec.method, url, message, encoded.content, encoded.content_type)

    def observe(
        self,
        outgoing: Outgoing,
        *,
        status: int | None,
        content: bytes | None,
        content_type: str | None,
        latency: float | None,
        error: str | None = None,
    ) -> ExchangeResult:
        live = None
        if content is not None and status is not None and error is None:
            live = decode(content, content_type, request=outgoing.message, hash_attachments=False)
        result = compare_exchange(
            outgoing.step.recorded, sent=outgoing.message, live=live, status=status,
            latency=latency, correlation=self.correlation,
            latency_threshold=self.latency_threshold, ignore=self.ignore, error=error,
        )
        self.results[outgoing.step.number] = result
        return result

    def event(self, content: bytes, content_type: str | None) -> Message:
        """An event the live server sent to ``notify_to``."""
        message = decode(content, content_type, hash_attachments=False)
        self.live_events.append(message)
        return message

    def awaiting_events(self) -> bool:
        """Whether a replayed job whose end state was recorded has not had
        its live end-state event yet."""
        if not self.notify_to:
            return False
        ended = {m.job_token for m in self.live_events if m.operation == "PostScanJobEndStateEvent"}
        for ev in self.capture.events:
            token = self.capture.job_of(ev)
            if token is None or ev.request.operation != "PostScanJobEndStateEvent":
                continue
            live = self.correlation.guids.get(token)
            if live is not None and live not in ended and self._job_replayed(token):
                return True
        return False

    def end_state_received(self, token: str) -> bool:
        """Whether the live end state of the recorded job ``token`` came (or
        cannot come: the job was not created live)."""
        live = self.correlation.guids.get(token)
        if live is None or not self._job_replayed(token):
            return True
        return any(m.job_token == live and m.operation == "PostScanJobEndStateEvent"
                   for m in self.live_events)

    def _job_replayed(self, token: str) -> bool:
        create = self.capture.creates[token]
        return any(r.recorded is create and r.live is not None and r.live.kind == "response"
                   for r in self.results.values())

    def event_differences(self) -> list[Difference]:
        """Recorded vs live events, per job: the end state must match; the
        status events may come in other numbers (servers report progress as
        it happens), so only their absence is noted, as a warning."""
        if not self.notify_to:
            return []
        out: list[Difference] = []
        live_by_token: dict[str, list[Message]] = {}
        for msg in self.live_events:
            live_by_token.setdefault(msg.job_token or "", []).append(msg)
        for token in self.capture.creates:
            recorded_events = [e.request for e in self.capture.events
                               if self.capture.job_of(e) == token]
            if not recorded_events:
                continue
            live_token = self.correlation.guids.get(token)
            got = live_by_token.get(live_token or "", [])
            out.extend(self._job_events(token, recorded_events, got))
        return out

    def _job_events(self, token: str, recorded: list[Message], live: list[Message]) -> list[Difference]:
        out: list[Difference] = []
        path = f"job {token[:8]}"
        for name in names.EVENTS:
            rec = [m for m in recorded if m.operation == name]
            got = [m for m in live if m.operation == name]
            if rec and not got:
                severity: Severity = "error" if name == "PostScanJobEndStateEvent" else "warning"
                out.append(Difference("event-missing", f"{path}/{name}", len(rec), 0, severity))
            elif got and not rec:
                out.append(Difference("event-unexpected", f"{path}/{name}", 0, len(got), "warning"))
            elif rec and got and name == "PostScanJobEndStateEvent":
                for d in compare_messages(rec[-1], got[-1], self.correlation, ignore=self.ignore):
                    out.append(replace(d, path=f"{path}/{d.path}"))
        return out

    def report(self) -> Report:
        results = [self.results[s.number] for s in self.steps if s.number in self.results]
        return Report(self.target_origin, tuple(results), tuple(self.event_differences()),
                      skipped=len(self.steps) - len(results), events_received=len(self.live_events))


@dataclass(frozen=True, slots=True, eq=False)
class Report:
    """The outcome of a client replay."""

    target: str
    results: tuple[ExchangeResult, ...]
    event_differences: tuple[Difference, ...] = ()
    skipped: int = 0
    events_received: int = 0

    @property
    def differing(self) -> list[ExchangeResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.differing and self.skipped == 0 and not any(
            d.severity == "error" for d in self.event_differences)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok,
            "exchanges": len(self.results),
            "differing": len(self.differing),
            "skipped": self.skipped,
            "events_received": self.events_received,
            "results": [r.to_json() for r in self.results],
            "events": [d.to_json() for d in self.event_differences],
        }


__all__ = [
    "Answer",
    "Capture",
    "ClientReplay",
    "Correlation",
    "Difference",
    "ExchangeResult",
    "Keys",
    "Outgoing",
    "OutgoingEvent",
    "Recorded",
    "Report",
    "Rewriter",
    "ServerReplay",
    "Step",
    "advertised",
    "compare_exchange",
    "compare_messages",
    "notify_to",
    "origin_of",
    "plan",
    "recorded",
    "rewrite",
    "set_notify_to",
    "unmatched_fault",
]
