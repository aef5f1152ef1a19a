"""The conformance report over captures: every exchange decoded again, one
job tracker run over the whole capture in order, findings gathered per job
and per code.  ``dspscope check`` prints it; it works the same on our
captures and on any other mitmproxy capture.

Memory stays bounded on large captures: finished jobs are summarised as the
tracker evicts them, and only the first ``MAX_EXAMPLES`` occurrences of each
finding code are kept (all are counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http
from mitmproxy.flow import Flow

from dspscope import junit
from dspscope.addons.decoded import message
from dspscope.addons.metadata import analyze, dropped_by, message_of, waited
from dspscope.wsdsp.jobs import JobTracker
from dspscope.wsdsp.messages import SEVERITY_ORDER

MAX_EXAMPLES = 50
EVICT_EVERY = 1000
NO_JOB = ""
#: Findings the tracker can only make once a job's traffic is over.
_AT_THE_END = ("job.never-ended", "job.completed-without-end")


@dataclass(slots=True)
class Group:
    """All occurrences of one finding code in one job (or outside jobs)."""

    severity: str
    code: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "count": self.count,
                "examples": list(self.examples)}


@dataclass(slots=True)
class Report:
    exchanges: int = 0
    events: int = 0
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[tuple[str, str], Group] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    tracker: JobTracker = field(default_factory=JobTracker)
    #: job token -> its slowest exchange: (ms the device waited, operation, ms rules held it)
    slowest: dict[str, tuple[float, str, float | None]] = field(default_factory=dict)

    # ----------------------------------------------------------- feeding

    def add(self, flow: Flow, source: str = "") -> None:
        if not isinstance(flow, http.HTTPFlow):
            return
        request = message(flow, "request")
        response = message(flow, "response") if flow.response is not None else None
        meta, _ = analyze(flow, self.tracker, request, response)
        spent, held = waited(flow)
        self._latency(meta["job_token"], meta["operation"], spent, held)
        if meta["kind"] == "event":
            self.events += 1
        else:
            self.exchanges += 1
        where = {
            "flow": flow.id,
            "file": source,
            "time": flow.request.timestamp_start,
            "operation": meta["operation"],
            "device": meta["device"],
        }
        for finding in meta["findings"]:
            self._note(meta["job_token"] or NO_JOB, finding, where)
        if (self.exchanges + self.events) % EVICT_EVERY == 0:
            self._collect(flow.request.timestamp_start - 86400)

    def add_record(self, record: dict[str, Any], flags: dict[str, Any], source: str = "") -> None:
        """The same as ``add`` for a flow read from a capture's index: its
        decoded messages come from the record, the job tracker runs again."""
        request = message_of(record.get("request"))
        if request is None:  # the proxy could not decode it: nothing to track
            self.exchanges += 1
            return
        response = message_of(record.get("response"))
        stamp = record.get("time") or flags.get("stamp") or 0.0
        kind = record.get("kind") or "exchange"
        if kind == "event":
            seen = self.tracker.event(request, exchange_id=record["id"], time=stamp,
                                      dropped=dropped_by(record.get("rules")))
            self.events += 1
        else:
            status = record.get("status")
            seen = self.tracker.exchange(request, response, device=flags.get("device", ""),
                                         exchange_id=record["id"], time=stamp,
                                         status=status if isinstance(status, int) else None)
            self.exchanges += 1
        job_token = record.get("job_token") or (seen.job.token if seen.job is not None else None)
        spent, held = record.get("duration_ms"), record.get("rule_delay_ms")
        self._latency(job_token, record.get("operation"), spent / 1000 if spent else None,
                      held / 1000 if held else None)
        where = {"flow": record["id"], "file": source, "time": record.get("time"),
                 "operation": record.get("operation"), "device": flags.get("device", "")}
        findings = [*(record["request"].get("findings") or ()),
                    *((record.get("response") or {}).get("findings") or ()),
                    *(f.to_json() for f in seen.findings)]
        for finding in findings:
            self._note(job_token or NO_JOB, finding, where)
        if (self.exchanges + self.events) % EVICT_EVERY == 0:
            self._collect(stamp - 86400)

    def add_all(self, flows: Iterable[Flow], source: str = "") -> None:
        for flow in flows:
            self.add(flow, source)

    def finish(self) -> Report:
        """End of input: open jobs are flagged, every job is summarised."""
        for found in self.tracker.finish():
            if found.code not in _AT_THE_END:  # events that waited in vain for their job
                self._note(NO_JOB, found.to_json(), {"operation": None})
        self._collect(float("inf"))
        for job in self.jobs:
            for code in _AT_THE_END:
                said = [f for f in job["findings"] if f.get("code") == code]
                if said:  # finish() and evict() may both have said so
                    self._note(job["token"] or NO_JOB, said[0], {"operation": None})
        return self

    def _collect(self, before: float) -> None:
        for job in self.tracker.evict(before=before):
            slowest = self.slowest.pop(job["token"] or "", None)
            if slowest is not None:
                job["slowest_ms"], job["slowest_operation"], job["slowest_rule_delay_ms"] = slowest
            self.jobs.append(job)

    def _latency(self, token: str | None, operation: str | None, spent: float | None,
                 held: float | None) -> None:
        """Keep the job's slowest exchange: the time its device waited (rules included)."""
        if not token or spent is None:
            return
        ms = round(spent * 1000, 3)
        if ms > self.slowest.get(token, (-1.0, "", None))[0]:
            self.slowest[token] = (ms, operation or "?", round(held * 1000, 3) if held else None)

    def _note(self, job: str, finding: dict[str, Any], where: dict[str, Any]) -> None:
        severity = str(finding.get("severity", "info"))
        code = str(finding.get("code", "?"))
        group = self.groups.get((job, code))
        if group is None:
            group = self.groups[(job, code)] = Group(severity, code)
        group.count += 1
        self.counts[severity] += 1
        if len(group.examples) < MAX_EXAMPLES:
            group.examples.append({"text": finding.get("text"), "ref": finding.get("ref"), **where})

    # ----------------------------------------------------------- reading

    @property
    def failed(self) -> bool:
        return self.counts["error"] > 0

    def groups_of(self, job: str) -> list[Group]:
        found = [g for (j, _), g in self.groups.items() if j == job]
        return sorted(found, key=lambda g: (SEVERITY_ORDER.get(g.severity, 9), g.code))

    def to_json(self) -> dict[str, Any]:
        jobs = []
        for job in self.jobs:
            entry = {k: v for k, v in job.items() if k != "findings"}
            entry["findings"] = [g.to_json() for g in self.groups_of(job["token"] or NO_JOB)]
            jobs.append(entry)
        known = {job["token"] for job in self.jobs}
        outside = [g.to_json() for (j, _), g in sorted(self.groups.items()) if j not in known]
        return {
            "files": list(self.files),
            "problems": list(self.problems),
            "exchanges": self.exchanges,
            "events": self.events,
            "jobs": jobs,
            "outside_jobs": outside,
            "counts": {s: self.counts[s] for s in SEVERITY_ORDER},
            "failed": self.failed,
        }

    def human(self) -> list[str]:
        lines = [f"{', '.join(self.files) or '(no capture)'}: {self.exchanges} exchange(s), "
                 f"{self.events} event(s), {len(self.jobs)} job(s)"]
        lines.extend(f"problem: {p}" for p in self.problems)
        known = set()
        for job in self.jobs:
            token = job["token"] or NO_JOB
            known.add(token)
            what = (f"WS-Scan job {job.get('job_id')} ({job['token'] or 'no token'})"
                    if job.get("protocol") == "ws-scan" else f"job {job['token'] or '(no token)'}")
            lines.append(
                f"{what} from {job['device'] or '?'}: "
                f"{job['outcome'] or job['state']}, {job['images']} image(s), "
                f"{job['events']} event(s), {len(job['faults'])} fault(s)"
                + (f", {job['dropped_events']} event(s) dropped by rules" if job.get("dropped_events") else "")
                + _slowest(job))
            lines.extend(_group_lines(self.groups_of(token)))
        others = sorted({j for j, _ in self.groups if j not in known})
        for token in others:
            lines.append("outside jobs:" if token == NO_JOB else f"job {token} (not followed):")
            lines.extend(_group_lines(self.groups_of(token)))
        counts = ", ".join(f"{self.counts[s]} {s}(s)" for s in SEVERITY_ORDER)
        lines.append(f"{'FAILED' if self.failed else 'ok'}: {counts}")
        return [_printable(line) for line in lines]

    def junit(self) -> bytes:
        """One testcase per job (and one for the exchanges outside jobs); a
        job fails on its error findings, the rest are its notes."""
        def case(name: str, classname: str, groups: list[Group]) -> junit.Case:
            errors = [g for g in groups if g.severity == "error"]
            rest = [g for g in groups if g.severity != "error"]
            return junit.Case(
                name, classname,
                failure=", ".join(f"{g.code} x{g.count}" for g in errors) if errors else None,
                details="\n".join(_group_lines(errors)), output="\n".join(_group_lines(rest)))

        cases = []
        known = set()
        for job in self.jobs:
            token = job["token"] or NO_JOB
            known.add(token)
            cases.append(case(f"job {job['token'] or '(no token)'}", f"device {job['device'] or '?'}",
                              self.groups_of(token)))
        others = [g for (j, _), g in sorted(self.groups.items()) if j not in known]
        cases.append(case("exchanges outside jobs", "capture", others))
        return junit.report("dspscope check", cases, failure_type="conformance")


def _group_lines(groups: list[Group]) -> list[str]:
    out = []
    for group in groups:
        first = group.examples[0] if group.examples else {}
        where = []
        if first.get("operation"):
            where.append(str(first["operation"]))
        if first.get("flow"):
            where.append(f"flow {str(first['flow'])[:8]}")
        times = f" x{group.count}" if group.count > 1 else ""
        at = f" ({', '.join(where)})" if where else ""
        out.append(f"  {group.severity:<7} {group.code}{times}: {first.get('text', '')}{at}")
    return [_printable(line) for line in out]


def _printable(text: str) -> str:
    """Captured text on a terminal: no control characters, one line."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _slowest(job: dict[str, Any]) -> str:
    """", slowest SendImage 1204 ms (rules held 1200 ms)": the longest a device waited."""
    ms = job.get("slowest_ms")
    if ms is None:
        return ""
    held = job.get("slowest_rule_delay_ms")
    share = f" (rules held {held:.0f} ms)" if held else ""
    return f", slowest {job.get('slowest_operation')} {ms:.0f} ms{share}"
