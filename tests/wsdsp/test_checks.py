"""Every conformance code fires on a minimal bad message and not on the good
message it was made from."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from dspscope.wsdsp import AttachmentData, Encoded, Message, build, checks, decode, encode
from dspscope.wsdsp.names import DSP, EMAIL
from tests.wsdsp import support

BUILT = support.built_messages()
VENDOR = "urn:vendor:acme"


def _body(message: Message, **changes: Any) -> Message:
    """The message with body children changed (None removes one)."""
    name = message.body_name
    assert name is not None
    body = dict(message.body)
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return replace(message, fields={name: body})


def _image(declared: str, kind: str) -> Encoded:
    message = build.send_image(to=support.SERVER, token=support.TOKEN, document_id=1,
                               format=declared, content_id="img@d")
    return encode(message, (AttachmentData("img@d", support.image(kind)),))


def _status(state: str) -> Message:
    return build.event("PostScanJobStatusEvent",
                       {"JobStatus": {"JobToken": support.TOKEN, "JobState": state}}, to=support.SINK)


def _share(unc: str) -> Message:
    return build.create_post_scan_job(to=support.SERVER, user=support.USER, psp_id=support.PSP,
                                      filters=[build.fileshare_filter(unc)])


def _email(flag: Any) -> Message:
    message = build.create_post_scan_job(to=support.SERVER, user=support.USER, psp_id=support.PSP,
                                         filters=[build.email_filter("a@b.example")])
    psi = dict(message.body["PostScanInstructions"])
    flt = psi["FiltersToProcess"]["Filter"][0]
    flt["Instructions"]["EmailConfig"]["SendToScanUser"] = flag
    return _body(message, PostScanInstructions=psi)


def _vendor(message: Message) -> Message:
    spaces = dict(message.namespaces)
    spaces["EndPostScanJobRequest/Tray"] = VENDOR
    return replace(_body(message, Tray="2"), namespaces=spaces)


def _without_reason(message: Message) -> Message:
    fault = dict(message.fields["Fault"])
    del fault["Reason"]
    return replace(message, fields={"Fault": fault})


END, CREATE = BUILT["end"][0], BUILT["create"][0]
END_RESPONSE = BUILT["end-response"][0]
Case = Callable[[], Message | Encoded]

# code -> (severity, good, bad, request for decoding or None)
CASES: dict[str, tuple[str, Case, Case, Message | None]] = {
    "wsa.missing-action": ("error", lambda: END, lambda: replace(END, action=None), None),
    "wsa.missing-message-id": ("error", lambda: END, lambda: replace(END, message_id=None), None),
    "wsa.missing-to": ("warning", lambda: END, lambda: replace(END, to=None), None),
    "wsa.missing-relates-to": ("error", lambda: END_RESPONSE,
                               lambda: replace(END_RESPONSE, relates_to=None), None),
    "wsa.action-body-mismatch": ("error", lambda: END, lambda: replace(
        END, action=DSP + "/CancelPostScanJob"), None),
    "wsa.message-id-not-uri": ("warning", lambda: END, lambda: replace(END, message_id="12345"), None),
    "dsp.missing-element": ("error", lambda: CREATE, lambda: _body(CREATE, PSP_Identifier=None), None),
    "dsp.invalid-guid": ("error", lambda: END, lambda: _body(END, JobToken="job-7"), None),
    "dsp.invalid-sid": ("error", lambda: CREATE, lambda: _body(CREATE, UserIdentifier="alice"), None),
    "dsp.unknown-enum": ("warning", lambda: _status("Processing"), lambda: _status("Exploded"), None),
    "dsp.unknown-format": ("error", lambda: _image("png", "png"), lambda: _image("gif", "png"), None),
    "dsp.too-long": ("error", lambda: _share("\\\\s\\" + "x" * 250), lambda: _share("\\\\s\\" + "x" * 252),
                     None),
    "dsp.unknown-action": ("warning", lambda: END, lambda: replace(END, action=DSP + "/Reboot"), None),
    "dsp.vendor-extension": ("info", lambda: END, lambda: _vendor(END), None),
    "dsp.invalid-boolean": ("error", lambda: _email(True), lambda: _email("yes"), None),
    "dsp.invalid-integer": ("error", lambda: _image("png", "png"), lambda: encode(build.send_image(
        to=support.SERVER, token=support.TOKEN, document_id="one", format="png",  # type: ignore[arg-type]
        content_id="img@d"), (AttachmentData("img@d", support.image("png")),)), None),
    "fault.unknown-subcode": ("info", lambda: build.fault(END, "OperationFailed"),
                              lambda: build.fault(END, "TrayOpen"), END),
    "fault.code-mismatch": ("warning", lambda: build.fault(END, "InvalidArgs", "x"),
                            lambda: build.fault(END, "InvalidArgs", "x", code="Receiver"), END),
    "fault.missing-reason": ("warning", lambda: build.fault(END, "OperationFailed"),
                             lambda: _without_reason(build.fault(END, "OperationFailed")), END),
    "mtom.format-mismatch": ("error", lambda: _image("png", "png"), lambda: _image("png", "jpeg"), None),
    "mtom.attachment-missing": ("error", lambda: _image("png", "png"),
                                lambda: encode(BUILT["send-image"][0]), None),
    "soap.version-1.1": ("warning", lambda: END, lambda: replace(END, soap_version="1.1"), None),
    "wsa.version-2005-08": ("warning", lambda: END, lambda: replace(END, addressing="2005/08"), None),
}


def documented_codes() -> set[str]:
    doc = checks.__doc__ or ""
    return set(re.findall(r"\b(?:wsa|dsp|fault|mtom)\.[a-z0-9-]+", doc.split("Codes:", 1)[1]))


def test_every_documented_code_has_a_case() -> None:
    assert documented_codes() <= set(CASES)


def _decode(made: Message | Encoded, request: Message | None) -> Message:
    encoded = made if isinstance(made, Encoded) else encode(made)
    return decode(encoded.content, encoded.content_type, request=request)


@pytest.mark.parametrize("code", sorted(CASES))
def test_code_fires_on_bad_and_not_on_good(code: str) -> None:
    severity, good, bad, request = CASES[code]
    clean = _decode(good(), request)
    assert code not in {f.code for f in clean.findings}
    flagged = _decode(bad(), request)
    hits = [f for f in flagged.findings if f.code == code]
    assert hits, flagged.findings
    assert {f.severity for f in hits} == {severity}
    assert all(f.text for f in hits)


def test_good_messages_are_clean() -> None:
    for code, (_, good, _, request) in CASES.items():
        assert _decode(good(), request).findings == (), code


def test_missing_filter_parts() -> None:
    psi = dict(CREATE.body["PostScanInstructions"])
    psi["FiltersToProcess"] = {"Filter": [{"Dialect": EMAIL}]}
    got = _decode(_body(CREATE, PostScanInstructions=psi), None)
    assert [f.text for f in got.findings if f.code == "dsp.missing-element"] == [
        "Filter 1: Instructions is missing"]


def test_checks_are_deterministic_and_ordered() -> None:
    bad = replace(_body(END, JobToken="x"), message_id=None, to=None)
    first = _decode(bad, None).findings
    assert first == _decode(bad, None).findings
    assert [f.code for f in first] == ["wsa.missing-message-id", "wsa.missing-to", "dsp.invalid-guid"]
