"""Playing the recorded devices against a live server: the order requests
may go in, each request rewritten with what the live server minted, each
answer compared, and the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from .. import names
from ..codec import decode, encode
from ..messages import Message
from .compare import (
    Correlation,
    Difference,
    ExchangeResult,
    Severity,
    compare_exchange,
    compare_messages,
)
from .records import Capture, Recorded
from .rewriting import notify_to, origin_of, rewrite, set_notify_to


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
    #: Stopped early (Ctrl-C): ``skipped`` counts what did not run.
    interrupted: bool = False

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
            "interrupted": self.interrupted,
            "events_received": self.events_received,
            "results": [r.to_json() for r in self.results],
            "events": [d.to_json() for d in self.event_differences],
        }
