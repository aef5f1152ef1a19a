"""What real stacks send beyond the tidy examples decodes to the same
message: padded URIs and tokens, GUIDs in every spelling, vendor extensions,
SOAP 1.1, WS-Addressing 1.0, missing optional headers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from lxml import etree

from dspscope.wsdsp import Message, build, decode, encode
from dspscope.wsdsp.names import ANONYMOUS, DSP, WSA
from tests.wsdsp import support

TOKEN = support.TOKEN
VENDOR = "urn:vendor:acme:scan"


def codes(message: Message) -> set[str]:
    return {f.code for f in message.findings}


def edited(message: Message, edit: Callable[[etree._Element], None]) -> bytes:
    """The encoded message, changed with lxml (test side only)."""
    root = etree.fromstring(encode(message).content)
    edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def pad_all_text(root: etree._Element) -> None:
    for el in root.iter():
        if isinstance(el.tag, str) and len(el) == 0 and el.text:
            el.text = f"\n\t  {el.text}  \r\n "


@pytest.mark.parametrize("name", ["create", "send-image", "create-response", "elements",
                                  "elements-response", "status-event", "fault-InvalidArgs",
                                  "subscribe", "probe-matches"])
def test_whitespace_around_every_value(name: str) -> None:
    message, request = support.built_messages()[name]
    got = decode(edited(message, pad_all_text), request=request)
    assert replace(got, findings=message.findings) == message
    assert codes(got) <= codes(message) | {"mtom.attachment-missing"}


@pytest.mark.parametrize(
    "spelling",
    [TOKEN, TOKEN.upper(), "{" + TOKEN + "}", "{" + TOKEN.upper() + "}", "urn:uuid:" + TOKEN,
     "URN:UUID:" + TOKEN.upper(), "uuid:" + TOKEN, "  urn:uuid:{" + TOKEN + "}  "],
)
def test_guid_spellings(spelling: str) -> None:
    for message in (build.job_request("EndPostScanJob", to=support.SERVER, token=spelling),
                    build.get_elements(to=support.SERVER, token=spelling),
                    build.create_post_scan_job(to=support.SERVER, user=support.USER, psp_id=spelling)):
        got = decode(encode(message).content)
        assert "dsp.invalid-guid" not in codes(got)
        if message.operation != "CreatePostScanJob":
            assert got.job_token == TOKEN
            assert got.body["JobToken"] == spelling.strip()  # the field keeps what was sent


def test_not_a_guid_is_kept_and_flagged() -> None:
    got = decode(encode(build.job_request("EndPostScanJob", to=support.SERVER, token="job-42")).content)
    assert got.job_token == "job-42" and "dsp.invalid-guid" in codes(got)


def _with_vendor_extensions(message: Message) -> Message:
    fields: dict[str, Any] = {k: dict(v) for k, v in message.fields.items()}
    body = fields["CreatePostScanJobRequest"]
    body["Duplex"] = {"@mode": "long-edge", "#text": "true"}
    psi = dict(body["PostScanInstructions"])
    psi["Priority"] = "7"
    body["PostScanInstructions"] = psi
    spaces = dict(message.namespaces)
    spaces["CreatePostScanJobRequest/Duplex"] = VENDOR
    spaces["CreatePostScanJobRequest/PostScanInstructions/Priority"] = VENDOR
    spaces["CreatePostScanJobRequest/UserIdentifier/@x"] = VENDOR
    body["UserIdentifier"] = {"@x": "1", "#text": support.USER}
    spaces["Header/DeviceInfo"] = VENDOR
    return replace(message, fields=fields, namespaces=spaces,
                   headers={"DeviceInfo": {"Model": "ACME 9000", "Serial": "X1"}})


def test_vendor_extensions_are_kept_listed_and_reported() -> None:
    message, _ = support.built_messages()["create"]
    got = decode(encode(_with_vendor_extensions(message)).content)
    body = got.body
    assert body["Duplex"] == {"@mode": "long-edge", "#text": "true"}
    assert body["PostScanInstructions"]["Priority"] == "7"
    assert got.headers == {"DeviceInfo": {"Model": "ACME 9000", "Serial": "X1"}}
    assert set(got.extensions) == {
        "Header/DeviceInfo",
        "CreatePostScanJobRequest/Duplex",
        "CreatePostScanJobRequest/PostScanInstructions/Priority",
        "CreatePostScanJobRequest/UserIdentifier/@x",
    }
    assert codes(got) == {"dsp.vendor-extension"}
    [info] = got.findings
    assert info.severity == "info" and "Duplex" in info.text
    # and they survive re-encoding
    again = decode(encode(got).content)
    assert again == got


def test_vendor_filter_dialect_is_not_an_extension() -> None:
    dialect = "urn:vendor:acme:filter:ocr"
    message = build.create_post_scan_job(
        to=support.SERVER, user=support.USER, psp_id=support.PSP,
        filters=[build.filter_instructions(dialect, {"OcrConfig": {"Language": "de"}})])
    got = decode(encode(message).content)
    assert got.extensions == () and codes(got) == set()
    config = got.body["PostScanInstructions"]["FiltersToProcess"]["Filter"][0]["Instructions"]
    assert config == {"OcrConfig": {"Language": "de"}}
    assert got.namespaces[
        "CreatePostScanJobRequest/PostScanInstructions/FiltersToProcess/Filter/Instructions/OcrConfig"
    ] == dialect


def test_soap_11_envelope_recognised_and_flagged() -> None:
    message, _ = support.built_messages()["end"]
    encoded = encode(replace(message, soap_version="1.1"))
    got = decode(encoded.content, encoded.content_type)
    assert (got.protocol, got.kind, got.operation, got.soap_version) == (
        "ws-dsp", "request", "EndPostScanJob", "1.1")
    [finding] = got.findings
    assert (finding.code, finding.severity) == ("soap.version-1.1", "warning")


def test_ws_addressing_2005_recognised_and_flagged() -> None:
    message, _ = support.built_messages()["create-response"]
    got = decode(encode(replace(message, addressing="2005/08")).content)
    assert (got.kind, got.operation, got.job_token, got.addressing) == (
        "response", "CreatePostScanJob", TOKEN, "2005/08")
    assert got.relates_to == message.relates_to
    assert codes(got) == {"wsa.version-2005-08"}


def _drop(*locals_: str) -> Callable[[etree._Element], None]:
    def edit(root: etree._Element) -> None:
        for el in list(root.iter()):
            if isinstance(el.tag, str) and etree.QName(el).localname in locals_:
                el.getparent().remove(el)
    return edit


@pytest.mark.parametrize(
    ("dropped", "expected"),
    [
        (("ReplyTo",), set()),
        (("To",), {"wsa.missing-to"}),
        (("MessageID",), {"wsa.missing-message-id"}),
        (("Header",), {"wsa.missing-action", "wsa.missing-message-id", "wsa.missing-to"}),
        (("ContinueOnError",), set()),
    ],
)
def test_missing_headers_and_optional_elements(dropped: tuple[str, ...], expected: set[str]) -> None:
    message, _ = support.built_messages()["create"]
    got = decode(edited(message, _drop(*dropped)))
    # without an Action the dsp body still says what the message is
    assert (got.protocol, got.kind, got.operation) == ("ws-dsp", "request", "CreatePostScanJob")
    assert codes(got) == expected


def test_response_without_relates_to() -> None:
    message, request = support.built_messages()["end-response"]
    got = decode(edited(message, _drop("RelatesTo")), request=request)
    assert got.kind == "response" and codes(got) == {"wsa.missing-relates-to"}


def _token_element(root: etree._Element) -> etree._Element:
    return next(el for el in root.iter(f"{{{DSP}}}JobToken"))


@pytest.mark.parametrize(
    "spell",
    [
        lambda el: el.append(etree.Comment(" issued by the server ")),  # comment inside the text
        lambda el: setattr(el, "text", etree.CDATA(TOKEN)),
        lambda el: el.addprevious(etree.ProcessingInstruction("vendor", "x")),
    ],
    ids=["comment", "cdata", "pi"],
)
def test_token_text_in_other_clothes(spell: Callable[[etree._Element], None]) -> None:
    message, _ = support.built_messages()["end"]
    got = decode(edited(message, lambda root: spell(_token_element(root))))
    assert got.job_token == TOKEN and codes(got) == set()


def test_character_references_in_text() -> None:
    content = encode(support.built_messages()["end"][0]).content
    content = content.replace(TOKEN[:2].encode(), b"&#x32;&#54;", 1)
    got = decode(content)
    assert got.job_token == TOKEN


@pytest.mark.parametrize(
    "declaration",
    [b"", b"<?xml version='1.0'?>", b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
     b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>"],
)
def test_xml_declarations(declaration: bytes) -> None:
    content = encode(support.built_messages()["end"][0]).content.partition(b"?>")[2].lstrip()
    got = decode(declaration + b"\r\n" + content)
    assert got.operation == "EndPostScanJob" and codes(got) == set()


ACTION_END = "http://schemas.microsoft.com/windows/2008/12/wdp/distributedscan/processing/EndPostScanJob"


@pytest.mark.parametrize(
    "content_type",
    [None, "application/soap+xml", "APPLICATION/SOAP+XML;CHARSET=UTF-8",
     'application/soap+xml; action="' + ACTION_END + '"', "application/octet-stream", "garbage;;=;"],
)
def test_content_type_spellings(content_type: str | None) -> None:
    got = decode(encode(support.built_messages()["end"][0]).content, content_type)
    assert got.operation == "EndPostScanJob" and codes(got) == set()


@pytest.mark.parametrize(
    ("content_type", "code"),
    [("text/xml", "soap.content-type-mismatch"),
     ('application/soap+xml; charset=utf-8; action="x"', "soap.action-parameter-mismatch")],
)
def test_content_types_that_contradict_the_envelope(content_type: str, code: str) -> None:
    """Still decoded, and flagged: the SOAP 1.2 HTTP binding ties them together."""
    got = decode(encode(support.built_messages()["end"][0]).content, content_type)
    assert got.operation == "EndPostScanJob" and codes(got) == {code}


def test_reply_to_as_plain_text_and_epr() -> None:
    message, _ = support.built_messages()["end"]

    def plain(root: etree._Element) -> None:
        reply = next(root.iter(f"{{{WSA}}}ReplyTo"))
        for child in list(reply):
            reply.remove(child)
        reply.text = f"  {ANONYMOUS} "

    assert decode(edited(message, plain)).reply_to == ANONYMOUS
    assert decode(encode(message).content).reply_to == ANONYMOUS


def test_second_body_child_does_not_confuse_the_first() -> None:
    message, _ = support.built_messages()["end"]

    def extra(root: etree._Element) -> None:
        body = next(root.iter("{http://www.w3.org/2003/05/soap-envelope}Body"))
        etree.SubElement(body, f"{{{VENDOR}}}Trailer").text = "x"

    got = decode(edited(message, extra))
    assert got.operation == "EndPostScanJob" and got.job_token == TOKEN


def test_a_vendor_job_token_is_not_the_job_s() -> None:
    message, _ = support.built_messages()["end"]
    other = "99999999-9999-4999-8999-999999999999"
    spaces = dict(message.namespaces)
    spaces["Header/JobToken"] = VENDOR
    with_header = replace(message, headers={"JobToken": other}, namespaces=spaces)

    def vendor_token_first(root: etree._Element) -> None:
        request = next(root.iter(f"{{{DSP}}}EndPostScanJobRequest"))
        token = etree.Element(f"{{{VENDOR}}}JobToken")
        token.text = other
        request.insert(0, token)

    got = decode(edited(with_header, vendor_token_first))
    assert got.job_token == TOKEN
    assert got.headers == {"JobToken": other} and other in got.body["JobToken"]


def test_an_unqualified_job_token_still_names_the_job() -> None:
    message, _ = support.built_messages()["end"]
    spaces = dict(message.namespaces)
    spaces["EndPostScanJobRequest/JobToken"] = ""
    got = decode(encode(replace(message, namespaces=spaces)).content)
    assert got.job_token == TOKEN


def test_duplicate_addressing_header_first_one_counts() -> None:
    message, _ = support.built_messages()["end"]

    def second_action(root: etree._Element) -> None:
        header = root[0]
        etree.SubElement(header, f"{{{WSA}}}Action").text = "urn:vendor:other"
        etree.SubElement(header, f"{{{WSA}}}MessageID").text = "urn:uuid:2"

    got = decode(edited(message, second_action))
    assert (got.operation, got.action, got.message_id) == (
        "EndPostScanJob", message.action, message.message_id)
    assert [f.code for f in got.findings] == ["wsa.duplicate-header"] * 2


def test_mustunderstand_and_reference_parameters_are_fine() -> None:
    message, _ = support.built_messages()["end"]

    def decorate(root: etree._Element) -> None:
        for block in root[0]:
            block.set("{http://www.w3.org/2003/05/soap-envelope}mustUnderstand", "true")
        reply = next(root.iter(f"{{{WSA}}}ReplyTo"))
        params = etree.SubElement(reply, f"{{{WSA}}}ReferenceParameters")
        etree.SubElement(params, f"{{{VENDOR}}}Session").text = "42"

    got = decode(edited(message, decorate))
    assert got == message


def test_same_name_from_a_vendor_namespace_is_not_lost() -> None:
    message = build.create_post_scan_job(to=support.SERVER, user=support.USER, psp_id=support.PSP,
                                         filters=[build.fileshare_filter(r"\\files\scans")])

    def vendor_share_first(root: etree._Element) -> None:
        shares = next(root.iter("{http://schemas.microsoft.com/windows/2007/10/imaging/postscan/"
                                "filter/fileshare}FileShares"))
        extra = etree.Element(f"{{{VENDOR}}}ShareUNC")
        extra.text = r"\\vendor\mirror"
        shares.insert(0, extra)

    got = decode(edited(message, vendor_share_first))
    config = got.body["PostScanInstructions"]["FiltersToProcess"]["Filter"][0]["Instructions"]
    assert config["FileShareConfig"]["FileShares"]["ShareUNC"] == [r"\\vendor\mirror", r"\\files\scans"]
