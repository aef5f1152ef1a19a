"""The semantic comparison of a live answer with the recorded one.

Ignored: MessageID and RelatesTo values, JobTokens and other ids the live
server mints (beyond being used consistently), URL origins, xs:dateTime
values, the Reason text of faults.  Reported: changed, added and removed
fields, faults that appeared, vanished or changed, HTTP status, a RelatesTo
that is not the request's MessageID, latency beyond a threshold (a note)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..messages import Message
from ..values import same_message_id
from .records import Capture, Recorded
from .rewriting import DATETIME, GUID_IN_TEXT, ORIGIN, Rewriter, map_strings

Severity = Literal["error", "warning"]


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
            old = [g.lower() for g in GUID_IN_TEXT.findall(recorded)]
            new = [g.lower() for g in GUID_IN_TEXT.findall(live)]
            if len(old) == len(new):
                for a, b in zip(old, new, strict=True):
                    self.guids.setdefault(a, b)

    def canon_recorded(self, value: str) -> str:
        return _canon(Rewriter(guids=self.guids).text(value))


def _guids_in(node: Any) -> set[str]:
    out: set[str] = set()

    def take(text: str) -> str:
        out.update(g.lower() for g in GUID_IN_TEXT.findall(text))
        return text

    map_strings(node, take)
    return out


def _canon(value: str) -> str:
    """A value as compared: xs:dateTime values are equal to each other and
    URL origins do not count."""
    text = value.strip()
    if DATETIME.fullmatch(text):
        return "<dateTime>"
    return ORIGIN.sub("<origin>", text)


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
    was = same_message_id(recorded_resp.relates_to, rec.request.message_id)
    now = same_message_id(live.relates_to, sent.message_id)
    if was and not now:
        return [Difference("relates-to", "RelatesTo", "the request's MessageID",
                           live.relates_to or "missing")]
    return []


