"""Playing the recorded server: match each live request to a recorded
exchange and regenerate its answer and the events that followed it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from .. import build
from ..codec import encode
from ..encode import AttachmentData
from ..messages import Message
from ..values import new_guid, normalize_guid, same_message_id
from .records import Capture, Recorded, Slot, issued_token, slot_of
from .rewriting import Keys, Rewriter, notify_to, rewrite

Timing = Literal["recorded", "none"]

#: Operations whose recorded answer may be given again when the device asks
#: more often than the capture shows (they change no state).
_REPEATABLE_DSP = frozenset({"GetPostScanJobElements"})


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
        if nxt is not None and same_message_id(nxt.request.message_id, before.request.message_id):
            return None
        return before

    def _remember(self, message_id: str, rec: Recorded) -> None:
        self._answered[normalize_guid(message_id)] = rec
        while len(self._answered) > self._max:
            self._answered.popitem(last=False)

    def _issue(self, rec: Recorded) -> None:
        token = issued_token(rec)
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
        # The recorded parts go out again as they came (a WS-Scan RetrieveImage
        # answers with the page as an MTOM attachment).
        parts = tuple(AttachmentData(a.content_id, bytes(a.data(rec.response_body)),
                                     a.content_type or "application/octet-stream")
                      for a in resp.attachments)
        encoded = encode(message, parts)
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
