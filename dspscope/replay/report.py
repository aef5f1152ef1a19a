"""A client replay's report for people (text), programs (JSON) and CI (JUnit).

Captured text reaches a terminal here: it is stripped of control
characters.  The JUnit file is written by ``dspscope.junit``.
"""

from __future__ import annotations

from collections.abc import Iterator

from dspscope import junit as junit_file
from dspscope.wsdsp.replay import Difference, ExchangeResult, Report


def clean(text: object) -> str:
    return "".join(c if c.isprintable() else "?" for c in str(text))


def _title(result: ExchangeResult) -> str:
    rec = result.recorded
    job = rec.request.job_token or (rec.response.job_token if rec.response else None)
    where = f" job {job[:8]}" if job else ""
    return clean(f"#{rec.index} {rec.operation_key} from {rec.device}{where}")


def _status(result: ExchangeResult) -> str:
    return f"{result.recorded.status} -> {result.status if result.status is not None else '-'}"


def lines(report: Report, *, verbose: bool = False) -> Iterator[str]:
    """The human report: differing exchanges with their differences, then
    event differences and a summary line."""
    for result in report.results:
        if result.ok and not (verbose or result.differences):
            continue
        mark = "ok  " if result.ok else "DIFF"
        yield f"{mark} {_title(result)}  [{_status(result)}]"
        for diff in result.differences:
            yield f"       {clean(diff.text())}" + ("" if diff.severity == "error" else "  (note)")
    for diff in report.event_differences:
        mark = "DIFF" if diff.severity == "error" else "note"
        yield f"{mark} events: {clean(diff.text())}"
    notes = sum(1 for r in report.results for d in r.differences if d.severity != "error")
    summary = (f"{len(report.results)} exchange(s) replayed against {report.target}: "
               f"{len(report.differing)} differ")
    if notes:
        summary += f", {notes} note(s)"
    if report.skipped:
        summary += f", {report.skipped} not replayed"
    if report.interrupted:
        yield summary + " - INTERRUPTED"
        return
    yield summary + (" - same behaviour" if report.ok else " - BEHAVIOUR DIFFERS")


def junit(report: Report) -> bytes:
    """One testcase per replayed exchange (and one for the events)."""
    cases = []
    for result in report.results:
        notes = "\n".join(clean(d.text()) for d in result.differences)
        cases.append(junit_file.Case(
            _title(result), clean(f"replay.{result.recorded.device}"),
            failure=None if result.ok else clean(_first(result.differences)),
            details="" if result.ok else notes, output=notes if result.ok else "",
            time=result.latency or 0))
    events = "\n".join(clean(d.text()) for d in report.event_differences)
    ok = _events_ok(report)
    cases.append(junit_file.Case(
        "events", "replay.events",
        failure=None if ok else clean(_first(report.event_differences)),
        details="" if ok else events, output=events if ok else ""))
    name = "dspscope replay (interrupted)" if report.interrupted else "dspscope replay"
    return junit_file.report(name, cases, skipped=report.skipped)


def _events_ok(report: Report) -> bool:
    return not any(d.severity == "error" for d in report.event_differences)


def _first(differences: tuple[Difference, ...]) -> str:
    errors = [d for d in differences if d.severity == "error"] or list(differences)
    return errors[0].text() if errors else ""
