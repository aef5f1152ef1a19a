"""SOAP faults: the spec's five subcodes and unknown ones, built and varied;
code, subcode, reason and detail extracted; the HTTP status they call for."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from lxml import etree

from dspscope.wsdsp import Fault, Message, build, decode, encode
from dspscope.wsdsp.names import ANONYMOUS, DSP, FAULTS, SOAP11, WSA, WSA10
from tests.wsdsp import support

CREATE = support.built_messages()["create"][0]

# subcode -> (code, namespace, reason, detail, HTTP status)
SPEC = {
    "ActionNotSupported": ("Sender", WSA, "The [wsa:Action] cannot be processed at the receiver.",
                           "http://example/NotAnAction", 400),
    "InvalidArgs": ("Sender", DSP, "At least one input argument is invalid.", "PSP_Identifier", 400),
    "OperationFailed": ("Receiver", DSP, "The service cannot perform the requested operation.", None, 500),
    "ServerErrorTemporaryError": ("Receiver", DSP, "The service had an unexpected error.", None, 500),
    "ServerErrorInternalError": ("Receiver", DSP, "The service had an unexpected error.", None, 500),
}


def codes(message: Message) -> set[str]:
    return {f.code for f in message.findings}


def test_table_matches_the_spec_names() -> None:
    assert set(SPEC) == set(FAULTS)


@pytest.mark.parametrize("subcode", sorted(SPEC))
def test_spec_fault_with_its_request(subcode: str) -> None:
    code, namespace, reason, detail, status = SPEC[subcode]
    built = build.fault(CREATE, subcode, detail)
    got = decode(encode(built).content, request=CREATE)
    assert (got.protocol, got.kind, got.operation) == ("ws-dsp", "fault", "CreatePostScanJob")
    assert got.fault == Fault(code, subcode, reason, detail, namespace)
    assert got.relates_to == CREATE.message_id
    assert got.to == ANONYMOUS
    assert codes(got) == set()
    assert build.fault_status(got) == status
    json = got.to_json()["fault"]
    assert json == {"code": code, "subcode": subcode, "reason": reason, "detail": detail}


@pytest.mark.parametrize("subcode", sorted(SPEC))
def test_spec_fault_on_its_own(subcode: str) -> None:
    """Without the request: a dsp subcode still says WS-DSP; the operation is unknown."""
    code, namespace, *_ = SPEC[subcode]
    got = decode(encode(build.fault(CREATE, subcode)).content)
    assert got.kind == "fault" and got.operation is None
    assert got.protocol == ("ws-dsp" if namespace == DSP else "soap")
    assert got.fault is not None and (got.fault.code, got.fault.subcode) == (code, subcode)


def test_unknown_subcode() -> None:
    built = build.fault(CREATE, "PaperJam", "tray 2", subcode_namespace="urn:vendor:acme")
    got = decode(encode(built).content, request=CREATE)
    assert got.fault == Fault("Receiver", "PaperJam", "The service had an unexpected error.", "tray 2",
                              "urn:vendor:acme")
    assert codes(got) == {"fault.unknown-subcode"}
    assert next(f for f in got.findings).severity == "info"
    assert build.fault_status(got) == 500


def test_unknown_sender_subcode_is_400() -> None:
    got = decode(encode(build.fault(CREATE, "BadTray", code="Sender")).content, request=CREATE)
    assert build.fault_status(got) == 400


def _fault_edit(message: Message, edit: Any) -> bytes:
    root = etree.fromstring(encode(message).content)
    fault = next(root.iter("{http://www.w3.org/2003/05/soap-envelope}Fault"))
    edit(fault)
    return etree.tostring(root)


SOAP = "{http://www.w3.org/2003/05/soap-envelope}"


def test_code_that_disagrees_with_the_subcode() -> None:
    got = decode(encode(build.fault(CREATE, "InvalidArgs", code="Receiver")).content, request=CREATE)
    assert codes(got) == {"fault.code-mismatch"}
    assert build.fault_status(got) == 500  # the status follows the Code that was sent


def test_missing_reason() -> None:
    def edit(fault: etree._Element) -> None:
        fault.remove(fault.find(SOAP + "Reason"))

    got = decode(_fault_edit(build.fault(CREATE, "OperationFailed"), edit), request=CREATE)
    assert got.fault is not None and got.fault.reason is None
    assert codes(got) == {"fault.missing-reason"}


def test_english_reason_is_chosen_among_languages() -> None:
    def edit(fault: etree._Element) -> None:
        reason = fault.find(SOAP + "Reason")
        german = etree.Element(SOAP + "Text")
        german.set("{http://www.w3.org/XML/1998/namespace}lang", "de-DE")
        german.text = "Mindestens ein Argument ist ungültig."
        reason.insert(0, german)
        reason[1].set("{http://www.w3.org/XML/1998/namespace}lang", "EN-us")

    got = decode(_fault_edit(build.fault(CREATE, "InvalidArgs", "x"), edit), request=CREATE)
    assert got.fault is not None and got.fault.reason == SPEC["InvalidArgs"][2]


def test_structured_detail() -> None:
    def edit(fault: etree._Element) -> None:
        detail = fault.find(SOAP + "Detail")
        detail.text = None
        etree.SubElement(detail, f"{{{DSP}}}Argument").text = "  PSP_Identifier  "
        etree.SubElement(detail, f"{{{DSP}}}Why").text = "unknown\n  process"

    got = decode(_fault_edit(build.fault(CREATE, "InvalidArgs", "x"), edit), request=CREATE)
    assert got.fault is not None
    assert got.fault.detail == "PSP_Identifier unknown process"


def test_subcode_prefix_resolved_by_namespace() -> None:
    def edit(fault: etree._Element) -> None:
        sub = fault.find(f"{SOAP}Code/{SOAP}Subcode")
        old = sub.find(SOAP + "Value")
        sub.remove(old)
        value = etree.SubElement(sub, SOAP + "Value", nsmap={"proc": DSP})
        value.text = " proc:OperationFailed "

    got = decode(_fault_edit(build.fault(CREATE, "OperationFailed"), edit), request=CREATE)
    assert got.fault is not None
    assert (got.fault.subcode, got.fault.subcode_namespace) == ("OperationFailed", DSP)
    assert got.fields["Fault"]["Code"]["Subcode"]["Value"] == "dsp:OperationFailed"


def test_soap_11_fault() -> None:
    fault = Message(
        protocol="soap", kind="fault", action=WSA + "/fault", message_id="urn:uuid:1",
        relates_to=CREATE.message_id, to=ANONYMOUS,
        soap_version="1.1", addressing="2004/08",
        fields={"Fault": {"faultcode": "soap:Client", "faultstring": " Bad request ",
                          "detail": {"Argument": "JobToken"}}},
        namespaces={"Fault": SOAP11, "Fault/faultcode": "", "Fault/faultstring": "",
                    "Fault/detail": ""},
    )
    got = decode(encode(fault).content, request=CREATE)
    assert got.kind == "fault" and got.operation == "CreatePostScanJob"
    assert got.fault == Fault("Client", None, "Bad request", "JobToken", None)
    assert "soap.version-1.1" in codes(got)
    assert build.fault_status(got) == 500  # only SOAP 1.2's Sender maps to 400


@pytest.mark.parametrize("action", [WSA + "/fault", WSA10 + "/fault", WSA10 + "/soap/fault",
                                    "http://www.w3.org/2003/05/soap-envelope/fault", None])
def test_fault_actions(action: str | None) -> None:
    built = replace(build.fault(CREATE, "InvalidArgs", "x"), action=action)
    got = decode(encode(built).content, request=CREATE)
    assert got.kind == "fault" and got.operation == "CreatePostScanJob"
    assert ("wsa.missing-action" in codes(got)) is (action is None)


def test_fault_without_relates_to() -> None:
    got = decode(encode(replace(build.fault(None, "OperationFailed"), relates_to=None)).content)
    assert codes(got) == {"wsa.missing-relates-to"}


def test_fault_action_without_fault_body() -> None:
    message = replace(support.built_messages()["end-response"][0], action=WSA + "/fault")
    got = decode(encode(message).content)
    assert got.kind == "fault" and got.fault is None
