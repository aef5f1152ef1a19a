"""Every example message of the WS-Scan reference pages decodes with the
right operation, kind and fields; their pre-release namespaces (WS-Scan
2006/01, WS-Addressing 2003/03) are recognised and named in a finding; the
ones the pages got wrong are reported as such.  And what sane-airscan sends
(2006/08, 2004/08) decodes with no finding at all."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dspscope.wsdsp import Message, decode, mtom

DATA = Path(__file__).resolve().parents[1] / "data"
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
PRE = {"wscn.prerelease-namespace"}
PRE_WSA = {"wscn.prerelease-namespace", "wsa.version-2003-03"}
BAD = {"xml.malformed"}


def _examples(page: str) -> list[tuple[bytes, str | None]]:
    text = (DATA / "ws-scan-docs" / page).read_text(encoding="utf-8")
    out = []
    for block in FENCE.findall(text):
        if "Envelope" in block:
            content_type, content = mtom.split_leading_headers(block.encode("utf-8"))
            out.append((content, content_type))
    return out


def _create_response(m: Message) -> None:
    assert m.body["JobId"] == 1 and m.body["JobToken"] == "Job9876TokenString"
    info = m.body["ImageInformation"]["MediaFrontImageInfo"]
    assert info == {"PixelsPerLine": 900, "NumberOfLines": 1500, "BytesPerLine": 113}
    # The page spells it DocumentFinalParamters; kept as the page has it.
    assert m.body["DocumentFinalParamters"]["Format"] == "jfif"


def _retrieve_request(m: Message) -> None:
    assert m.body["JobId"] == 1 and m.body["JobToken"] == "Job9876TokenString"
    assert m.job_token == "Job9876TokenString"


def _retrieve_response(m: Message) -> None:
    assert m.body["ScanData"]["Include"]["@href"] == (
        "cid:1c696bd7-005a-48d9-9ee9-9adca11f8892@uuid")
    assert m.attachments  # the image part, however badly the page lays it out


def _active_none(m: Message) -> None:
    assert m.body == {"ActiveJobs": ""}  # an empty element decodes to ""


def _active_two(m: Message) -> None:
    jobs = m.body["ActiveJobs"]["JobSummary"]
    assert [j["JobId"] for j in jobs] == [1, 2]
    assert jobs[0]["JobStateReasons"] == {"JobStateReason": ["JobScanning"]}


def _history(m: Message) -> None:
    jobs = m.body["JobHistory"]["JobSummary"]
    assert all(isinstance(j["JobId"], int) for j in jobs) and len(jobs) >= 1


def _elements_request(m: Message) -> None:
    assert m.body["RequestedElements"]["Name"]
    assert m.body["RequestedElements"]["Name"][0].startswith("wscn:")


def _description(m: Message) -> None:
    [data] = m.body["ScannerElements"]["ElementData"]
    assert data["@Name"] == "wscn:ScannerDescription" and data["@Valid"] is True
    name = data["ScannerDescription"]["ScannerName"]
    assert name["#text"] == "Accounting Scanner in Copy Room 2"


def _status(m: Message) -> None:
    status = m.body["ScannerElements"]["ElementData"][0]["ScannerStatus"]
    assert status["ScannerState"] == "Stopped"
    assert status["ScannerStateReasons"]["ScannerStateReason"] == ["MediaJam", "LampError"]
    assert [c["@Id"] for c in status["ActiveConditions"]["DeviceCondition"]] == ["1384", "534"]


def _configuration(m: Message) -> None:
    data = m.body["ScannerElements"]["ElementData"]
    assert [(d["@Name"], d["@Valid"]) for d in data] == [
        ("wscn:ScannerConfiguration", True), ("ihv:InvalidRequestEntry", False)]
    config = data[0]["ScannerConfiguration"]
    assert len(config["DeviceSettings"]["FormatsSupported"]["FormatValue"]) == 10
    assert config["Platen"]["PlatenResolutions"]["Widths"]["Width"] == [150, 204, 300, 600, 1200]
    assert config["ADF"]["ADFSupportsDuplex"] is False
    assert config["ADF"]["ADFFront"]["ADFMaximumSize"] == {"Width": 8500, "Height": 11000}


def _job_elements(m: Message) -> None:
    [data] = m.body["JobElements"]["ElementData"]
    assert data["JobStatus"]["JobState"] == "Completed" and data["JobStatus"]["ScansCompleted"] == 1


def _end_state(m: Message) -> None:
    state = m.body["JobEndState"]
    assert state["JobId"] == 253 and state["JobCompletedState"] == "Completed"


def _job_status(m: Message) -> None:
    assert m.body["JobStatus"]["JobId"] == 253


def _scan_available(m: Message) -> None:
    assert m.body == {"ClientContext": "App1ScanID2345",
                      "ScanIdentifier": "AnyUniqueIdentifierSuchAsAGUID"}


def _validation(m: Message) -> None:
    assert m.body["ValidationInfo"]["ValidTicket"] in (True, False)


def _any(m: Message) -> None:
    pass


#: (page, n-th example on it) -> (protocol, kind, operation, codes that must
#: be among the findings, fields check).  xml.malformed in the codes marks
#: the examples the pages got wrong.
EXAMPLES: dict[tuple[str, int], tuple[str, str, str | None, set[str], Callable[[Message], Any]]] = {
    # The requests' JobOriginatingUserName and DocumentName close without their prefix.
    ("createscanjobrequest.md", 0): ("ws-scan", "request", "CreateScanJob", PRE_WSA | BAD, _any),
    ("createscanjobrequest.md", 1): ("ws-scan", "request", "CreateScanJob", PRE_WSA | BAD, _any),
    ("createscanjobresponse.md", 0): ("ws-scan", "response", "CreateScanJob", PRE_WSA,
                                      _create_response),
    ("getactivejobsrequest.md", 0): ("ws-scan", "request", "GetActiveJobs", PRE_WSA, _any),
    ("getactivejobsresponse.md", 0): ("ws-scan", "response", "GetActiveJobs", PRE_WSA,
                                      _active_none),
    ("getactivejobsresponse.md", 1): ("ws-scan", "response", "GetActiveJobs", PRE_WSA,
                                      _active_two),
    # Its body element is GetJobElements, not GetJobElementsRequest.
    ("getjobelementsrequest.md", 0): ("ws-scan", "request", "GetJobElements",
                                      PRE_WSA | {"wsa.action-body-mismatch"}, _any),
    ("getjobelementsresponse.md", 0): ("ws-scan", "response", "GetJobElements", PRE_WSA,
                                       _job_elements),
    ("getjobhistoryrequest.md", 0): ("ws-scan", "request", "GetJobHistory", PRE_WSA, _any),
    ("getjobhistoryresponse.md", 0): ("ws-scan", "response", "GetJobHistory", PRE_WSA, _any),
    ("getjobhistoryresponse.md", 1): ("ws-scan", "response", "GetJobHistory", PRE_WSA, _history),
    ("getscannerelementsrequest.md", 0): ("ws-scan", "request", "GetScannerElements", PRE_WSA,
                                          _elements_request),
    ("getscannerelementsrequest.md", 1): ("ws-scan", "request", "GetScannerElements", PRE_WSA,
                                          _elements_request),
    ("getscannerelementsrequest.md", 2): ("ws-scan", "request", "GetScannerElements", PRE_WSA,
                                          _elements_request),
    ("getscannerelementsresponse.md", 0): ("ws-scan", "response", "GetScannerElements", PRE_WSA,
                                           _description),
    ("getscannerelementsresponse.md", 1): ("ws-scan", "response", "GetScannerElements", PRE_WSA,
                                           _status),
    ("getscannerelementsresponse.md", 2): ("ws-scan", "response", "GetScannerElements", PRE_WSA,
                                           _configuration),
    # The events end in "</soap:Body" (no ">").
    ("jobendstateevent.md", 0): ("ws-scan", "event", "JobEndStateEvent", PRE | BAD, _end_state),
    ("jobstatusevent.md", 0): ("ws-scan", "event", "JobStatusEvent", PRE | BAD, _job_status),
    ("retrieveimagerequest.md", 0): ("ws-scan", "request", "RetrieveImage", PRE_WSA | BAD,
                                     _retrieve_request),
    # XOP in its pre-release namespace (2003/12): an extension to a 2004/08 reader.
    ("retrieveimageresponse.md", 0): ("ws-scan", "response", "RetrieveImage",
                                      PRE_WSA | {"dsp.vendor-extension"}, _retrieve_response),
    # Its Filter's Dialect attribute is cut off: nothing of it is usable.
    ("scanavailableevent.md", 0): ("soap", "unknown", None, BAD, _any),
    ("scanavailableevent.md", 1): ("ws-eventing", "response", "Subscribe", BAD, _any),
    ("scanavailableevent.md", 2): ("ws-scan", "event", "ScanAvailableEvent", PRE | BAD,
                                   _scan_available),
    ("scannerelementschangeevent.md", 0): ("ws-scan", "event", "ScannerElementsChangeEvent",
                                           PRE | BAD, _any),
    ("scannerstatusconditionclearedevent.md", 0): (
        "ws-scan", "event", "ScannerStatusConditionClearedEvent", PRE | BAD, _any),
    ("scannerstatusconditionevent.md", 0): ("ws-scan", "event", "ScannerStatusConditionEvent",
                                            PRE | BAD, _any),
    ("scannerstatussummaryevent.md", 0): ("ws-scan", "event", "ScannerStatusSummaryEvent",
                                          PRE | BAD, _any),
    # "GrayScale4" for the enumeration's Grayscale4.
    ("validatescanticketrequest.md", 0): ("ws-scan", "request", "ValidateScanTicket",
                                          PRE_WSA | BAD | {"wscn.unknown-enum"}, _any),
    ("validatescanticketrequest.md", 1): ("ws-scan", "request", "ValidateScanTicket",
                                          PRE_WSA | BAD, _any),
    # <wscn:ValidTicket>true</wscn:ScanIdentifierValidTicket>
    ("validatescanticketresponse.md", 0): ("ws-scan", "response", "ValidateScanTicket",
                                           PRE_WSA | BAD, _validation),
    ("validatescanticketresponse.md", 1): ("ws-scan", "response", "ValidateScanTicket",
                                           PRE_WSA | BAD, _validation),
    # A template with an undeclared prefix, then a fault whose SOAP namespace
    # is misspelt (".../2003/05/soapelope"): neither is a SOAP envelope.
    ("wsd-scan-service-operation-error-reporting.md", 0): ("not-soap", "unknown", None, BAD,
                                                           _any),
    # Its envelope namespace is misspelled ("soapelope"): SOAP gone wrong, and said so.
    ("wsd-scan-service-operation-error-reporting.md", 1): (
        "soap", "unknown", None, {"soap.unknown-envelope-namespace"}, _any),
}


def test_table_covers_every_example() -> None:
    found = {(page.name, n) for page in (DATA / "ws-scan-docs").glob("*.md")
             for n in range(len(_examples(page.name)))}
    assert found == set(EXAMPLES)


@pytest.mark.parametrize("key", sorted(EXAMPLES), ids=lambda k: f"{k[0]}#{k[1]}")
def test_example_decodes(key: tuple[str, int]) -> None:
    protocol, kind, operation, codes, check = EXAMPLES[key]
    content, content_type = _examples(key[0])[key[1]]
    message = decode(content, content_type)
    assert (message.protocol, message.kind, message.operation) == (protocol, kind, operation)
    found = {f.code for f in message.findings}
    assert codes <= found, found
    assert ("xml.malformed" in found) == ("xml.malformed" in codes)
    # Every pre-release namespace is named, and nothing else is an error
    # unless the page got the XML wrong.
    if protocol == "ws-scan":
        assert "wscn.prerelease-namespace" in found
        prerelease = next(f for f in message.findings if f.code == "wscn.prerelease-namespace")
        assert "2006/01" in prerelease.text and prerelease.ref
    errors = {f.code for f in message.findings if f.severity == "error"}
    assert errors <= codes | {"wsa.missing-relates-to", "wsa.missing-action"}, errors
    check(message)


SANE_AIRSCAN = sorted((DATA / "sane-airscan").glob("*.xml"))


@pytest.mark.parametrize("path", SANE_AIRSCAN, ids=lambda p: p.stem)
def test_what_sane_airscan_sends_decodes_with_no_finding(path: Path) -> None:
    message = decode(path.read_bytes(), "application/soap+xml")
    assert message.protocol == "ws-scan"
    assert message.kind == "request"
    assert message.operation == path.stem.partition("-")[0]
    assert message.addressing == "2004/08"
    assert message.findings == ()
    if message.operation == "RetrieveImage":
        assert isinstance(message.body["JobId"], int) and message.job_token
    if message.operation == "CreateScanJob":
        params = message.body["ScanTicket"]["DocumentParameters"]
        assert params["Format"] == "png" and params["ImagesToTransfer"] == 0
        assert params["MediaSides"]["MediaFront"]["Resolution"] == {"Width": 75, "Height": 75}
