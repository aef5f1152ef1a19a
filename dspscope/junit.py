"""JUnit XML, the one report format every CI reads: ``dspscope check
--junit`` (a test case per job) and ``dspscope replay client --junit`` (a
test case per replayed exchange) both write it here.

The file is one ``<testsuites>`` holding one ``<testsuite>``, with the
name and totals on both (some CI tools read the outer element, some the inner).
Built with ElementTree (it is not SOAP); captured text in it is stripped of
control characters, which XML 1.0 cannot carry.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Case:
    """One test case: it failed when ``failure`` (a one-line message) is set."""

    name: str
    classname: str
    failure: str | None = None
    #: The failure's details (with ``failure``).
    details: str = ""
    #: Notes beside the verdict (system-out).
    output: str = ""
    #: Seconds, when there is a meaningful duration.
    time: float | None = None


def report(name: str, cases: Iterable[Case], *, skipped: int = 0,
           failure_type: str | None = None) -> bytes:
    """The JUnit file of one suite ``name`` of ``cases``; ``skipped`` counts
    what was not run at all (it has no case of its own)."""
    suite = ET.Element("testsuite", name=_clean(name))
    tests = failures = 0
    for case in cases:
        tests += 1
        element = ET.SubElement(suite, "testcase", name=_clean(case.name),
                                classname=_clean(case.classname))
        if case.time is not None:
            element.set("time", f"{case.time:.3f}")
        if case.failure is not None:
            failures += 1
            failure = ET.SubElement(element, "failure", message=_clean(case.failure))
            if failure_type is not None:
                failure.set("type", failure_type)
            failure.text = _clean(case.details)
        if case.output:
            ET.SubElement(element, "system-out").text = _clean(case.output)
    root = ET.Element("testsuites")
    for element in (root, suite):
        element.set("name", _clean(name))
        element.set("tests", str(tests))
        element.set("failures", str(failures))
        element.set("errors", "0")
        element.set("skipped", str(skipped))
    root.append(suite)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _clean(text: str) -> str:
    return "".join(c if c.isprintable() or c == "\n" else "?" for c in text)
