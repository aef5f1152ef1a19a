"""Body edits (rewrite, addressing, malformed), MTOM kept valid, and the
answers the proxy gives in the server's place."""

from __future__ import annotations

import hashlib

import pytest

from dspscope.rules import EditError, edit_body, fault_answer, status_answer
from dspscope.rules.edits import WRONG_NAMESPACE, attribute_name, parse_fragment
from dspscope.rules.spec import Actions, FaultAction, StatusAction
from dspscope.wsdsp import AttachmentData, Message, build, decode, encode, names
from tests.rules.support import PNG, TOKEN, create, rules_of, send_image


def actions(text: str) -> Actions:
    """The action of a one-rule file, given as the YAML of its action mapping."""
    return rules_of(f"  - {{name: e, match: {{nth: 1}}, action: {text}}}\n").rules[0].action


def edited(message: Message, action: str, **kwargs: str | None) -> Message:
    encoded = encode(message)
    out = edit_body(encoded.content, encoded.content_type, actions(action), **kwargs)
    return decode(out, encoded.content_type)


# ------------------------------------------------------------------ rewrite


def test_set_text() -> None:
    req = send_image()
    out = edited(req, "{rewrite: [{xpath: //dsp:JobToken, text: 00000000-0000-4000-8000-000000000000}]}")
    assert out.job_token == "00000000-0000-4000-8000-000000000000"
    assert out.message_id == req.message_id and out.operation == "SendImage"


def test_set_text_replaces_children() -> None:
    out = edited(send_image(), "{rewrite: [{xpath: //dsp:DocumentDescription, text: gone}]}")
    assert out.body["DocumentDescription"] == "gone"


def test_set_and_remove_attributes() -> None:
    out = edited(send_image(), "{rewrite: [{xpath: //xop:Include, set_attribute: {href: 'cid:other', "
                               "'dsp:Mark': x}}, {xpath: //dsp:ImageData, set_attribute: {Id: img}}]}")
    include = out.body["ImageData"]["Include"]
    assert include["@href"] == "cid:other" and include["@Mark"] == "x"
    assert out.body["ImageData"]["@Id"] == "img"
    again = edited(send_image(), "{rewrite: [{xpath: //xop:Include, remove_attribute: href}]}")
    assert again.body["ImageData"]["Include"] in ("", {})


def test_remove_element() -> None:
    out = edited(send_image(), "{rewrite: [{xpath: //dsp:DocumentId, remove: true}]}")
    assert "DocumentId" not in out.body["DocumentDescription"]
    assert out.body["DocumentDescription"]["Format"] == "png"


@pytest.mark.parametrize(("position", "order"), [
    ("append", ["DocumentId", "Format", "A", "B"]),
    ("prepend", ["A", "B", "DocumentId", "Format"]),
])
def test_insert_inside(position: str, order: list[str]) -> None:
    out = edited(send_image(), f"{{rewrite: [{{xpath: //dsp:DocumentDescription, position: {position}, "
                               "insert: '<dsp:A>1</dsp:A><v:B xmlns:v=\"urn:vendor\">2</v:B>'}]}")
    assert list(out.body["DocumentDescription"]) == order
    assert out.namespaces["SendImageRequest/DocumentDescription/B"] == "urn:vendor"
    assert "SendImageRequest/DocumentDescription/B" in out.extensions


@pytest.mark.parametrize(("position", "order"), [
    ("before", ["JobToken", "X", "Y", "DocumentDescription", "ImageData"]),
    ("after", ["JobToken", "DocumentDescription", "X", "Y", "ImageData"]),
])
def test_insert_beside(position: str, order: list[str]) -> None:
    out = edited(send_image(), f"{{rewrite: [{{xpath: //dsp:DocumentDescription, position: {position}, "
                               "insert: '<dsp:X/><dsp:Y/>'}]}")
    assert list(out.body) == order


def test_an_edit_that_matches_nothing_leaves_the_bytes_alone() -> None:
    encoded = encode(send_image())
    out = edit_body(encoded.content, encoded.content_type, actions("{rewrite: [{xpath: //dsp:Nothing, remove: true}]}"))
    assert out is encoded.content


def test_edits_apply_to_every_match_in_order() -> None:
    req = build.get_elements(to="x", token=TOKEN, elements=("dsp:JobStatus", "dsp:JobDescription"))
    out = edited(req, "{rewrite: [{xpath: //dsp:Name, text: dsp:Bogus}, {xpath: '(//dsp:Name)[2]', remove: true}]}")
    assert out.body["RequestedElements"]["Name"] == ["dsp:Bogus"]


@pytest.mark.parametrize(("action", "problem"), [
    ("{rewrite: [{xpath: //xop:Include/@href, text: x}]}", "selects text or attributes"),
    ("{rewrite: [{xpath: 'count(//dsp:JobToken)', text: x}]}", "gives a float, not elements"),
    ("{rewrite: [{xpath: /soap:Envelope, remove: true}]}", "cannot remove the root element"),
    ("{rewrite: [{xpath: /soap:Envelope, insert: '<x/>', position: after}]}", "cannot insert after the root"),
])
def test_edits_that_cannot_be_made(action: str, problem: str) -> None:
    encoded = encode(send_image())
    with pytest.raises(EditError, match=problem):
        edit_body(encoded.content, encoded.content_type, actions(action))


def test_a_body_that_is_not_xml_cannot_be_edited() -> None:
    with pytest.raises(EditError, match="not well-formed XML"):
        edit_body(b"<a><b></a>", "text/xml", actions("{malformed: unclosed}"))
    with pytest.raises(EditError, match="not well-formed XML"):
        edit_body(b"plain text", "text/plain", actions("{addressing: {relates_to: wrong}}"))


def test_the_xml_declaration_is_kept_or_left_out_as_it_was() -> None:
    bare = b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><x>1</x></e:Body></e:Envelope>'
    out = edit_body(bare, "application/soap+xml", actions("{rewrite: [{xpath: //x, text: '2'}]}"))
    assert out.startswith(b"<e:Envelope") and b"<x>2</x>" in out
    declared = encode(send_image()).content
    assert declared.startswith(b"<?xml")
    out = edit_body(declared, None, actions("{rewrite: [{xpath: //dsp:Format, text: jfif}]}"))
    assert out.startswith(b"<?xml")


def test_utf16_stays_utf16() -> None:
    xml = ('<?xml version="1.0" encoding="UTF-16"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
           '<s:Body><x>1</x></s:Body></s:Envelope>').encode("utf-16")
    out = edit_body(xml, "application/soap+xml; charset=utf-16", actions("{rewrite: [{xpath: //x, text: '2'}]}"))
    assert "<x>2</x>" in out.decode("utf-16")


# --------------------------------------------------------------------- MTOM


def test_mtom_only_the_root_part_changes() -> None:
    image = PNG * 2000
    req = send_image()
    encoded = encode(req, (AttachmentData("page1@test", image),))
    out = edit_body(encoded.content, encoded.content_type,
                    actions("{rewrite: [{xpath: //dsp:DocumentId, text: '7'}, {xpath: //dsp:DocumentDescription, "
                            "insert: '<dsp:Note>a longer envelope than before</dsp:Note>'}]}"))
    assert len(out) > len(encoded.content)
    message = decode(out, encoded.content_type)
    assert message.body["DocumentDescription"]["DocumentId"] == 7
    (attachment,) = message.attachments
    assert attachment.referenced and attachment.content_id == "page1@test"
    assert attachment.sha256 == hashlib.sha256(image).hexdigest()
    assert bytes(attachment.data(out)) == image
    assert not [f for f in message.findings if f.code.startswith("mtom.")]
    # everything after the root part is byte for byte the original
    tail = encoded.content[encoded.content.index(b"\r\n--uuid:", 10):]
    assert out.endswith(tail)


def test_mtom_without_a_root_part() -> None:
    with pytest.raises(EditError, match="without a root part"):
        edit_body(b"no parts at all", 'multipart/related; boundary=b; start="<nope>"',
                  actions("{malformed: unclosed}"))


def test_mtom_boundary_inside_the_new_envelope_is_refused() -> None:
    encoded = encode(send_image(), (AttachmentData("page1@test", PNG),))
    boundary = encoded.content_type.split('boundary="')[1].split('"')[0]
    with pytest.raises(EditError, match="MIME boundary"):
        edit_body(encoded.content, encoded.content_type,
                  actions(f"{{rewrite: [{{xpath: //dsp:Format, text: '--{boundary}'}}]}}"))


# --------------------------------------------------------------- addressing


def reply() -> tuple[Message, Message]:
    req = create()
    return req, build.response(req, {"JobToken": TOKEN})


def test_relates_to_wrong() -> None:
    req, resp = reply()
    out = edited(resp, "{addressing: {relates_to: wrong}}")
    assert out.relates_to and out.relates_to.startswith("urn:uuid:") and out.relates_to != req.message_id
    assert out.job_token == TOKEN


def test_relates_to_missing() -> None:
    _, resp = reply()
    out = edited(resp, "{addressing: {relates_to: missing}}")
    assert out.relates_to is None and out.message_id == resp.message_id


def test_relates_to_wrong_adds_one_where_there_was_none() -> None:
    req = create()
    out = edited(req, "{addressing: {relates_to: wrong}, fault: InvalidArgs}")
    assert out.relates_to is not None


def test_message_id_duplicate() -> None:
    _, resp = reply()
    out = edited(resp, "{addressing: {message_id: duplicate}}", duplicate_id="urn:uuid:11111111-2222-4333-8444-555555555555")
    assert out.message_id == "urn:uuid:11111111-2222-4333-8444-555555555555"
    with pytest.raises(EditError, match="no earlier MessageID"):
        edited(resp, "{addressing: {message_id: duplicate}}")


def test_addressing_in_an_envelope_without_header() -> None:
    xml = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'
    out = edit_body(xml, None, actions("{addressing: {message_id: duplicate}}"), duplicate_id="urn:x")
    message = decode(out, "application/soap+xml")
    assert message.message_id == "urn:x" and message.addressing == "2004/08"


def test_addressing_keeps_the_wsa_version() -> None:
    xml = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/'
           b'addressing"><s:Header><a:MessageID>urn:1</a:MessageID></s:Header><s:Body/></s:Envelope>')
    out = edit_body(xml, None, actions("{addressing: {relates_to: wrong}}"))
    assert decode(out, "application/soap+xml").addressing == "2005/08"


# ---------------------------------------------------------------- malformed


def test_unclosed() -> None:
    _, resp = reply()
    encoded = encode(resp)
    out = edit_body(encoded.content, encoded.content_type, actions("{malformed: unclosed}"))
    assert out.rstrip().endswith(b"</soap:Body>") and b"Envelope>" not in out[-20:]
    codes = {f.code for f in decode(out, encoded.content_type).findings}
    assert "xml.malformed" in codes


def test_wrong_namespace_keeps_the_prefixes() -> None:
    _, resp = reply()
    encoded = encode(resp)
    out = edit_body(encoded.content, encoded.content_type, actions("{malformed: wrong-namespace}"))
    assert b"<soap:Envelope" in out and WRONG_NAMESPACE.encode() in out
    assert names.SOAP12.encode() not in out
    got = decode(out, encoded.content_type)  # SOAP gone wrong, and said so
    assert [f.code for f in got.findings] == ["soap.unknown-envelope-namespace"]


def test_invalid_utf8() -> None:
    _, resp = reply()
    encoded = encode(resp)
    out = edit_body(encoded.content, encoded.content_type, actions("{malformed: invalid-utf8}"))
    with pytest.raises(UnicodeDecodeError):
        out.decode("utf-8")
    assert out.count(b"\xc3\x28") == 1
    assert b"encoding='utf-8'" in out[:60] or b'encoding="utf-8"' in out[:60].lower()


def test_edits_then_malformed_in_one_rule() -> None:
    _, resp = reply()
    encoded = encode(resp)
    out = edit_body(encoded.content, encoded.content_type,
                    actions("{rewrite: [{xpath: //dsp:JobToken, text: abc}], malformed: unclosed}"))
    assert b">abc<" in out and not out.rstrip().endswith(b"Envelope>")


# ---------------------------------------------------------------- fragments


def test_fragment_prefixes_are_predefined() -> None:
    (el,) = parse_fragment("<psp:DocumentRootName>x</psp:DocumentRootName>")
    assert el.tag == f"{{{names.PSP}}}DocumentRootName"


@pytest.mark.parametrize(("text", "problem"), [
    ("<a>" + "x" * 70000 + "</a>", "longer than"),
    ('<!ENTITY x "y"><a/>', "declarations"),
    ("<a>&x;</a>", "not well-formed"),
    ("<a/> trailing", "text outside elements"),
    ("<?pi x?>", "no element"),
])
def test_fragment_problems(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_fragment(text)


def test_attribute_names() -> None:
    assert attribute_name("Id", names.PREFIXES) == "Id"
    assert attribute_name("dsp:Id", names.PREFIXES) == f"{{{names.DSP}}}Id"
    assert attribute_name("xml:lang", names.PREFIXES).endswith("}lang")
    with pytest.raises(ValueError, match="unknown prefix"):
        attribute_name("q:Id", names.PREFIXES)


# ------------------------------------------------------------------ answers


@pytest.mark.parametrize("subcode", list(names.FAULTS))
def test_spec_faults(subcode: str) -> None:
    req = send_image()
    answer = fault_answer(FaultAction(subcode), req)
    code, reason, has_detail = names.FAULTS[subcode]
    assert answer.status == (400 if code == "Sender" else 500)
    ((header, content_type),) = answer.headers
    assert header == "Content-Type" and content_type.startswith("application/soap+xml")
    message = decode(answer.content, content_type, request=req)
    assert message.kind == "fault" and message.operation == "SendImage"
    assert message.fault is not None
    assert (message.fault.code, message.fault.subcode, message.fault.reason) == (code, subcode, reason)
    assert message.fault.subcode_namespace == names.FAULT_NAMESPACE[subcode]
    assert message.relates_to == req.message_id
    assert message.message_id and message.message_id != req.message_id
    assert message.action == names.WSA + "/fault"
    assert (message.fault.detail is not None) == has_detail
    assert not [f for f in message.findings if f.severity == "error"]


def test_fault_details_name_what_the_spec_says() -> None:
    req = send_image()
    unsupported = decode(fault_answer(FaultAction("ActionNotSupported"), req).content, "application/soap+xml")
    assert unsupported.fault is not None and unsupported.fault.detail == req.action
    invalid = decode(fault_answer(FaultAction("InvalidArgs"), req).content, "application/soap+xml")
    assert invalid.fault is not None and invalid.fault.detail == "JobToken"


def test_custom_fault() -> None:
    answer = fault_answer(FaultAction("Overheated", "Receiver", "The scanner server is too hot.", "42 C", 503,
                                      "urn:vendor:faults"), create())
    assert answer.status == 503
    message = decode(answer.content, "application/soap+xml")
    assert message.fault is not None
    assert (message.fault.code, message.fault.subcode, message.fault.reason, message.fault.detail) == (
        "Receiver", "Overheated", "The scanner server is too hot.", "42 C")
    assert message.fault.subcode_namespace == "urn:vendor:faults"


def test_fault_without_a_request() -> None:
    message = decode(fault_answer(FaultAction("InvalidArgs"), None).content, "application/soap+xml")
    assert message.relates_to is None and message.fault is not None and message.fault.detail is None
    not_soap = decode(b"garbage", "text/plain")
    assert decode(fault_answer(FaultAction("InvalidArgs"), not_soap).content, None).relates_to is None


def test_status_answers() -> None:
    bare = status_answer(StatusAction(503, None, (("Retry-After", "5"),)))
    assert (bare.status, bare.content, bare.headers) == (503, b"", (("Retry-After", "5"),))
    with_body = status_answer(StatusAction(500, "caf\u00e9", ()))
    assert with_body.content == "caf\u00e9".encode() and with_body.headers == (
        ("Content-Type", "text/plain; charset=utf-8"),)
    typed = status_answer(StatusAction(200, "<x/>", (("content-type", "text/xml"),)))
    assert typed.headers == (("content-type", "text/xml"),)


def test_removing_an_element_keeps_the_layout() -> None:
    xml = b"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">
  <s:Body>
    <a/>
    <b/>
  </s:Body>
</s:Envelope>"""
    out = edit_body(xml, None, actions("{rewrite: [{xpath: //a, remove: true}]}"))
    assert out == xml.replace(b"    <a/>\n", b"")
    out = edit_body(xml, None, actions("{rewrite: [{xpath: //b, remove: true}]}"))
    assert out == xml.replace(b"    <b/>\n", b"")
    inline = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><p>hello <b>x</b> world</p></s:Body></s:Envelope>'
    out = edit_body(inline, None, actions("{rewrite: [{xpath: //b, remove: true}]}"))
    assert b"<p>hello world</p>" in out
