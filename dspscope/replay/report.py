"""A client replay's report for people (text), programs (JSON) and CI (JUnit).

Captured text reaches a terminal here: it is stripped of control
characters.  The JUnit file is built with ElementTree (it is not SOAP).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

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
    failures = len(report.differing)
    name = "dspscope replay (interrupted)" if report.interrupted else "dspscope replay"
    suite = ET.Element("testsuite", name=name, tests=str(len(report.results) + 1),
                       failures=str(failures + (0 if _events_ok(report) else 1)), errors="0",
                       skipped=str(report.skipped))
    for result in report.results:
        rec = result.recorded
        case = ET.SubElement(suite, "testcase", classname=clean(f"replay.{rec.device}"),
                             name=_title(result), time=f"{result.latency or 0:.3f}")
        if not result.ok:
            failure = ET.SubElement(case, "failure", message=clean(_first(result.differences)))
            failure.text = "\n".join(clean(d.text()) for d in result.differences)
        elif result.differences:
            ET.SubElement(case, "system-out").text = "\n".join(clean(d.text()) for d in result.differences)
    case = ET.SubElement(suite, "testcase", classname="replay.events", name="events")
    if report.event_differences:
        element = "system-out" if _events_ok(report) else "failure"
        node = ET.SubElement(case, element)
        if element == "failure":
            node.set("message", clean(_first(report.event_differences)))
        node.text = "\n".join(clean(d.text()) for d in report.event_differences)
    return bytes(ET.tostring(suite, encoding="utf-8", xml_declaration=True))


def _events_ok(report: Report) -> bool:
    return not any(d.severity == "error" for d in report.event_differences)


def _first(differences: tuple[Difference, ...]) -> str:
    errors = [d for d in differences if d.severity == "error"] or list(differences)
    return errors[0].text() if errors else ""
