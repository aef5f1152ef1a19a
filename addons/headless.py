"""One line per exchange, for a proxy left running in a terminal or under a
service manager: time, device, operation, status, latency, job, findings.

    12:00:01.204  10.0.0.7     CreatePostScanJob        200   38ms  job 1f0c2a9e  ok
    12:00:02.410  10.0.0.7  <- PostScanJobStatusEvent   202    4ms  job 1f0c2a9e  ok
    12:00:03.007  10.0.0.7     SendImage                500  120ms  job 1f0c2a9e  1 error: wsa.missing-to

and one line per job when it is summarised and forgotten.

Lines are flushed at most FLUSH_AFTER seconds after they are written (and
at shutdown), not one by one: a flush is a system call, and on the event
loop each one can wait for a busy writer thread to hand the interpreter
back, which held every exchange up behind it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import IO, Any

from mitmproxy import ctx, http

from dspscope.addons.metadata import METADATA_KEY, waited
from dspscope.wsdsp.messages import SEVERITY_ORDER

#: Longest a written line waits for its flush.
FLUSH_AFTER = 0.1


def _clean(text: object) -> str:
    """Captured text on one line, without control characters."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def findings_text(findings: Iterable[Mapping[str, Any]]) -> str:
    items = list(findings)
    if not items:
        return "ok"
    counts = Counter(f.get("severity", "info") for f in items)
    worst = min(counts, key=lambda s: SEVERITY_ORDER.get(s, 9))
    codes = sorted({f.get("code", "?") for f in items if f.get("severity") == worst})
    summary = ", ".join(f"{n} {s}{'s' if n > 1 else ''}" for s, n in
                        sorted(counts.items(), key=lambda kv: SEVERITY_ORDER.get(kv[0], 9)))
    return f"{summary}: {', '.join(codes[:3])}{' …' if len(codes) > 3 else ''}"


def exchange_line(flow: http.HTTPFlow) -> str:
    meta = flow.metadata.get(METADATA_KEY) or {}
    stamp = flow.request.timestamp_start or flow.timestamp_created
    clock = time.strftime("%H:%M:%S", time.localtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}"
    event = meta.get("kind") == "event"
    device = meta.get("device") or ""
    what = meta.get("operation") if meta.get("protocol") not in (None, "not-soap") else None
    if not what:
        what = f"{flow.request.method} {flow.request.path[:60]}"
    response = flow.response
    status = str(response.status_code) if response is not None else "---"
    spent, held = waited(flow, meta)
    latency = f"{spent * 1000:.0f}ms" if spent is not None else "-"
    token = meta.get("job_token")
    job = f"job {token[:8]}" if token else "-"
    tail = findings_text(meta.get("findings") or [])
    if flow.error is not None:
        tail = f"{tail}; error: {flow.error.msg}"
    if meta.get("error"):
        tail = f"{tail}; dspscope: {meta['error']}"
    applied = [f"{r.get('name')}{' (failed)' if r.get('error') else ''}"
               for r in meta.get("rules") or () if isinstance(r, Mapping)]
    if applied:
        tail = f"{tail}; rules: {', '.join(applied)}"
        if held is not None:
            tail = f"{tail} (held {held * 1000:.0f}ms of it)"
    arrow = "<-" if event else "  "
    return _clean(f"{clock}  {device:<15} {arrow} {what:<24} {status:>4} {latency:>6}  {job:<12}  {tail}")


def job_line(summary: Mapping[str, Any]) -> str:
    token = summary.get("token") or "?"
    outcome = summary.get("outcome") or summary.get("state")
    findings = summary.get("findings") or []
    what = f"job {token}"
    if summary.get("protocol") == "ws-scan":
        what = f"WS-Scan job {summary.get('job_id') if summary.get('job_id') is not None else '?'} ({token})"
    return _clean(
        f"{what} from {summary.get('device') or '?'}: {outcome}, "
        f"{summary.get('images', 0)} image(s), {summary.get('events', 0)} event(s), "
        + (f"{summary['dropped_events']} dropped by rules, " if summary.get("dropped_events") else "")
        + f"{len(summary.get('faults') or [])} fault(s), {findings_text(findings)}"
    )


class Headless:
    """Prints ``exchange_line`` for each finished exchange when
    ``dspscope_headless`` is on (``dspscope proxy`` turns it on)."""

    name = "dspscope_headless"

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out
        #: job lines due after the line of the exchange that ended them
        self._due: list[str] = []
        self._flush_due: asyncio.TimerHandle | None = None

    def load(self, loader: Any) -> None:
        loader.add_option("dspscope_headless", bool, False,
                          "Print one line per exchange and per finished job.")

    def response(self, flow: http.HTTPFlow) -> None:
        self._print(exchange_line(flow))
        self._print_due()

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.response is None:
            self._print(exchange_line(flow))
        self._print_due()

    def done(self) -> None:
        self._print_due()
        self._flush()

    def jobs_finished(self, summaries: list[dict[str, Any]]) -> None:
        """Track calls this while it handles the exchange that ended the
        jobs (or at shutdown): their lines follow that exchange's line."""
        self._due.extend(job_line(summary) for summary in summaries)

    def _print_due(self) -> None:
        due, self._due = self._due, []
        for line in due:
            self._print(line)

    def _print(self, line: str) -> None:
        if not ctx.options.dspscope_headless:
            return
        out = self.out or sys.stdout
        out.write(line + "\n")
        if self._flush_due is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the event loop: at once
            out.flush()
            return
        self._flush_due = loop.call_later(FLUSH_AFTER, self._flush)

    def _flush(self) -> None:
        if self._flush_due is not None:
            self._flush_due.cancel()
            self._flush_due = None
        try:
            (self.out or sys.stdout).flush()
        except (OSError, ValueError):  # a closed or broken stdout: nothing to tell it
            pass
