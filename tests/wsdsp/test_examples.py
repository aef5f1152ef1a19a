"""Every example message of the DSM documentation decodes to the right
message, fed as published and as real stacks would send it (CRLF, a BOM,
UTF-16, other prefixes, a default namespace)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dspscope.wsdsp import Message, decode
from dspscope.wsdsp.names import DSD, DSP, SOAP12
from tests.wsdsp import support

ANON = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
FILESHARE = "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/fileshare"


def _create_fields(m: Message) -> None:
    body = m.body
    assert body["UserIdentifier"] == "S-1-5-21-917267712-1342860078-1792151419-500"
    assert body["PSP_Identifier"] == "C4F199C7-6876-4549-A86E-A85035952448"
    psi = body["PostScanInstructions"]
    assert psi["ContinueOnError"] is True
    assert psi["DocumentRootName"] == "SampleScanJob"
    filters = psi["FiltersToProcess"]["Filter"]
    assert [f["Dialect"].rsplit("/", 1)[1] for f in filters] == ["fileshare", "sharepoint", "email"]
    share = filters[0]["Instructions"]["FileShareConfig"]["FileShares"]["ShareUNC"]
    assert share == ["\\\\contoso\\scratch\\_prtlab\\IncomingScans"]
    sharepoint = filters[1]["Instructions"]["SharePointConfig"]
    assert sharepoint["SaveToMySite"] is False
    assert sharepoint["SaveToSharePointSites"]["SaveToSharePointSiteURL"] == ["http://contoso/site/scans"]
    email = filters[2]["Instructions"]["EmailConfig"]
    assert email["SendToScanUser"] is False
    assert email["SendToAddresses"] == {"@CanAddAddresses": False, "EmailAddress": ["user@contoso.com"]}
    assert m.extensions == ()


def _elements_request_fields(m: Message) -> None:
    assert m.body["RequestedElements"] == {"Name": ["dsp:JobStatus", "dsp:JobDescription"]}
    assert m.to == "https://DSMScanServer.contoso.com:5362/ScanServer/4d15d73c-bbcd-4cba-beae-07e1f8ea9475"
    assert m.reply_to == ANON


def _elements_response_fields(m: Message) -> None:
    data = m.body["JobElements"]["ElementData"]
    assert [(d["@Name"], d["@Valid"]) for d in data] == [
        ("dsp:JobStatus", True), ("dsp:JobDescription", True)]
    status = data[0]["JobStatus"]
    assert status["JobState"] == "Creating"
    assert status["ImagesReceived"] == 1
    assert status["FilterStatuses"]["FilterStatus"] == [{"Dialect": FILESHARE, "FilterState": "Pending"}]
    assert data[1]["JobDescription"]["PSP_DisplayName"] == "FileShare Process"


def _send_image_fields(m: Message) -> None:
    assert m.body["DocumentDescription"] == {"DocumentId": 9, "Format": "png"}
    assert m.body["ImageData"]["Include"]["@href"] == "cid:1c696bd7-005a-48d9-9ee9-9adca11f8892@uuid"
    assert len(m.attachments) == 1
    att = m.attachments[0]
    assert att.content_id == "1c696bd7-005a-48d9-9ee9-9adca11f8892@uuid"
    assert att.referenced and att.size == len(b"Document PDL Data")
    assert att.sniffed_format is None


def _end_state_fields(m: Message) -> None:
    state = m.fields["JobEndStateEvent"]["JobEndState"]
    assert state["JobId"] == 253  # WS-Scan integers decode as numbers
    assert state["JobCompletedState"] == "Completed"
    assert state["JobCompletedStateReasons"] == {"JobStateReason": "JobCompletedWithWarnings"}
    assert state["JobCompletedTime"] == "2006-01-24T11:37:05.673Z"


def _status_fields(m: Message) -> None:
    assert m.fields["JobStatusEvent"]["JobStatus"]["JobState"] == "Processing"
    assert m.fields["JobStatusEvent"]["JobStatus"]["ScansCompleted"] == 4


def _elements_change_fields(m: Message) -> None:
    config = m.fields["ScannerElementsChangeEvent"]["ElementChanges"]["ScannerConfiguration"]
    formats = config["DeviceSettings"]["FormatsSupported"]["FormatValue"]
    assert formats[:2] == ["dib", "exif"] and len(formats) == 10
    assert config["DeviceSettings"]["DocumentSizeAutoDetectSupported"] is True
    assert config["Film"]["FilmScanModesSupported"]["FilmScanModeValue"][0] == "ColorSlideFilm"


def _condition_fields(m: Message) -> None:
    cond = m.fields["ScannerStatusConditionEvent"]["DeviceCondition"]
    assert cond["@Id"] == "1543"
    assert (cond["Name"], cond["Component"], cond["Severity"]) == ("LampError", "Platen", "Critical")


def _cleared_fields(m: Message) -> None:
    cleared = m.fields["ScannerStatusConditionClearedEvent"]["DeviceConditionCleared"]
    assert cleared == {"ConditionId": 1543, "ConditionClearTime": "2006-01-21T17:22:35.8345Z"}


def _summary_fields(m: Message) -> None:
    summary = m.fields["ScannerStatusSummaryEvent"]["StatusSummary"]
    assert summary["ScannerState"] == "Stopped"
    assert summary["ScannerStateReasons"] == {"ScannerStateReason": ["MediaJam"]}  # always a list


def _empty_body(m: Message) -> None:
    assert m.body == {}


Check = Callable[[Message], None]

# file -> (protocol, kind, operation, job token, message id, relates to,
#          finding codes, body namespace, field check)
EXAMPLES: dict[str, tuple[str, str, str, str | None, str, str | None, set[str], str, Check]] = {
    "cancelpostscanjobrequest-example.md": (
        "ws-dsp", "request", "CancelPostScanJob", "1ba72b60-c873-4d9d-b523-66616fe03ea9",
        "urn:uuid:851d1de6-2bf1-4cc3-af55-dc8b462c505e", None, set(), DSP,
        lambda m: None),
    "cancelpostscanjobresponse-example.md": (
        "ws-dsp", "response", "CancelPostScanJob", None,
        "urn:uuid:d6d94676-39bf-4ed9-abc1-61d652f38a39",
        "urn:uuid:851d1de6-2bf1-4cc3-af55-dc8b462c505e", set(), DSP, _empty_body),
    "createpostscanjobrequest-example.md": (
        "ws-dsp", "request", "CreatePostScanJob", None,
        "urn:uuid:c7a18640-1e15-48ac-8326-0026a5719d98", None, set(), DSP, _create_fields),
    "createpostscanjobresponse-example.md": (
        "ws-dsp", "response", "CreatePostScanJob", "264a19bf-3604-4603-b59d-b47e0f669a1e",
        "urn:uuid:fb5ab95c-08ef-4cc2-8ec0-c4be667b1862",
        "urn:uuid:c7a18640-1e15-48ac-8326-0026a5719d98", set(), DSP, lambda m: None),
    "endpostscanjobrequest-example.md": (
        "ws-dsp", "request", "EndPostScanJob", "264a19bf-3604-4603-b59d-b47e0f669a1e",
        "urn:uuid:5eb4f990-bc55-459d-8d3f-9794f586fc32", None, set(), DSP, lambda m: None),
    "endpostscanjobresponse-example.md": (
        "ws-dsp", "response", "EndPostScanJob", None,
        "urn:uuid:d9067ca0-a1af-4345-9576-2f1f73b4f35d",
        "urn:uuid:5eb4f990-bc55-459d-8d3f-9794f586fc32", set(), DSP, _empty_body),
    "getpostscanjobelementsrequest-example.md": (
        "ws-dsp", "request", "GetPostScanJobElements", "0c349cb0-59ed-4d02-b6d5-ebc729c73830",
        "urn:uuid:a79fe111-170d-4699-95d8-a896564aa7d6", None, set(), DSP,
        _elements_request_fields),
    "getpostscanjobelementsresponse-example.md": (
        "ws-dsp", "response", "GetPostScanJobElements", "0c349cb0-59ed-4d02-b6d5-ebc729c73830",
        "urn:uuid:fe5ee298-6fbf-4f6a-847d-55c3f15a3487",
        "urn:uuid:a79fe111-170d-4699-95d8-a896564aa7d6", set(), DSP, _elements_response_fields),
    "sendimagerequest-example.md": (
        "ws-dsp", "request", "SendImage", "264a19bf-3604-4603-b59d-b47e0f669a1e",
        "uuid:UniqueMsgId", None, set(), DSP, _send_image_fields),
    "sendimageresponse-example.md": (
        "ws-dsp", "response", "SendImage", None,
        "urn:uuid:a8879038-0bd7-420d-812f-211bfc529415",
        "urn:uuid:d4d804f4-4232-484c-b861-a79ac24001cf", set(), DSP, _empty_body),
    # WS-DSD events: their actions are WS-Scan's (WS-DSD is built from WS-Scan), so
    # they decode as WS-Scan events.
    "jobendstateevent-example.md": (
        "ws-scan", "event", "JobEndStateEvent", None, "uuid:UniqueMsgId", None, set(), DSD,
        _end_state_fields),
    "jobstatusevent-jobstatus-jobstatusevent-example.md": (
        "ws-scan", "event", "JobStatusEvent", None, "uuid:UniqueMsgId", None, set(), DSD,
        _status_fields),
    "scannerelementschangeevent-example.md": (
        "ws-scan", "event", "ScannerElementsChangeEvent", None, "uuid:UniqueMsgId", None, set(),
        DSD, _elements_change_fields),
    "scannerstatusconditionclearedevent-example.md": (
        "ws-scan", "event", "ScannerStatusConditionClearedEvent", None, "uuid:UniqueMsgId", None,
        set(), DSD, _cleared_fields),
    # These two end in "</soap:Envelope" (no ">") in the documentation.
    "scannerstatusconditionevent-example.md": (
        "ws-scan", "event", "ScannerStatusConditionEvent", None, "uuid:UniqueMsgId", None,
        {"xml.malformed"}, DSD, _condition_fields),
    "scannerstatussummaryevent-example.md": (
        "ws-scan", "event", "ScannerStatusSummaryEvent", None, "uuid:UniqueMsgId", None,
        {"xml.malformed"}, DSD, _summary_fields),
}


def test_table_covers_every_example(spec_dir: Path) -> None:
    published = {p.name for p in (spec_dir / "dsm-docs").glob("*-example.md")}
    assert published == set(EXAMPLES)


def _variants(body_ns: str) -> dict[str, Callable[[bytes], bytes]]:
    return {
        "as-published": lambda x: x,
        "crlf": support.crlf,
        "bom": support.bom,
        "utf16": support.utf16,
        "crlf+bom": lambda x: support.bom(support.crlf(x)),
        "reprefixed": support.reprefix,
        "default-body-ns": lambda x: support.reprefix(x, body_ns),
        "default-soap-ns": lambda x: support.reprefix(x, SOAP12),
    }


VARIANTS = list(_variants(DSP))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_decodes(spec_dir: Path, name: str, variant: str) -> None:
    protocol, kind, operation, token, message_id, relates_to, codes, body_ns, check = EXAMPLES[name]
    example = support.load_example(spec_dir, name)
    change = _variants(body_ns)[variant]
    if variant == "crlf" and example.content_type:
        # MIME itself is CRLF: convert the whole package, not just the XML.
        example = support.Example(name, support.crlf(example.content), example.content_type)
    else:
        example = support.on_root_part(example, change)
    if variant.startswith(("reprefixed", "default")):
        codes = codes - {"xml.malformed"}  # lxml wrote the recovered tree back out whole
    message = decode(example.content, example.content_type)
    assert (message.protocol, message.kind, message.operation) == (protocol, kind, operation)
    assert message.job_token == token
    assert message.message_id == message_id
    assert message.relates_to == relates_to
    assert message.soap_version == "1.2"
    assert message.addressing == "2004/08"
    assert message.action is not None and message.action.endswith(
        "/" + (operation if kind != "response" else operation + "Response"))
    assert message.action == message.action.strip()
    assert {f.code for f in message.findings} == codes, message.findings
    assert message.namespaces[message.body_name or ""] == body_ns
    check(message)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_variants_decode_to_the_same_message(spec_dir: Path, name: str) -> None:
    """Beyond the key fields: every variant gives exactly the published one's
    message (findings aside for the repaired malformed examples)."""
    example = support.load_example(spec_dir, name)
    base = decode(example.content, example.content_type)
    for variant, change in _variants(EXAMPLES[name][7]).items():
        if variant == "crlf" and example.content_type:
            changed = support.Example(name, support.crlf(example.content), example.content_type)
        else:
            changed = support.on_root_part(example, change)
        got = decode(changed.content, changed.content_type)
        assert _comparable(got) == _comparable(base), variant


def _comparable(m: Message) -> dict[str, Any]:
    out = m.to_json()
    out["findings"] = sorted(f["code"] for f in out["findings"] if f["code"] != "xml.malformed")
    out["namespaces"] = dict(m.namespaces)
    out["extensions"] = m.extensions
    return out
