"""The one JUnit writer, as CI tools read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from dspscope import junit


def test_totals_failures_and_notes() -> None:
    data = junit.report("dspscope check", [
        junit.Case("job a", "device 10.0.0.1", failure="job.never-ended x1",
                   details="  error   job.never-ended: ...", output="  warning x: y", time=0.25),
        junit.Case("job b", "device 10.0.0.2", output="  info z: w"),
        junit.Case("job c", "device 10.0.0.3"),
    ], skipped=2, failure_type="conformance")
    root = ET.fromstring(data)
    suite = root.find("testsuite")
    assert root.tag == "testsuites" and suite is not None
    for element in (root, suite):
        assert (element.get("name"), element.get("tests"), element.get("failures"),
                element.get("skipped")) == ("dspscope check", "3", "1", "2")
    first, second, third = suite.findall("testcase")
    failure = first.find("failure")
    assert failure is not None and failure.get("type") == "conformance"
    assert failure.get("message") == "job.never-ended x1" and "never-ended" in (failure.text or "")
    assert first.findtext("system-out") == "  warning x: y" and first.get("time") == "0.250"
    assert second.find("failure") is None and second.findtext("system-out") == "  info z: w"
    assert list(third) == [] and third.get("time") is None


def test_captured_control_characters_do_not_break_the_file() -> None:
    data = junit.report("s", [junit.Case("exchange \x1b[31m\x00", "replay.x", failure="bad\x07")])
    case = ET.fromstring(data).find("testsuite/testcase")
    assert case is not None and case.get("name") == "exchange ?[31m?"
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "bad?"
