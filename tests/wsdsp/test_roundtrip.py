"""decode(encode(m)) == m: for every builder, and for every decoded example
(decode -> encode -> decode)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from dspscope.wsdsp import AttachmentData, Message, build, decode, encode
from tests.wsdsp import support
from tests.wsdsp.test_examples import EXAMPLES

BUILT = support.built_messages()


@pytest.mark.parametrize("name", sorted(BUILT))
def test_built_message_round_trips(name: str) -> None:
    message, request = BUILT[name]
    encoded = encode(message)
    got = decode(encoded.content, encoded.content_type, request=request)
    if name == "send-image":  # its image travels beside it; without one it is missing
        assert [f.code for f in got.findings] == ["mtom.attachment-missing"]
        got = replace(got, findings=message.findings)
    assert got == message


@pytest.mark.parametrize("name", sorted(BUILT))
def test_built_messages_are_clean(name: str) -> None:
    message, _ = BUILT[name]
    expected = {"fault-vendor": ["fault.unknown-subcode"]}.get(name, [])
    assert [f.code for f in message.findings] == expected


@pytest.mark.parametrize("version", ["1.1", "1.2"])
@pytest.mark.parametrize("addressing", ["2004/08", "2005/08"])
def test_round_trip_keeps_soap_and_addressing_versions(version: str, addressing: str) -> None:
    message, _ = BUILT["create"]
    message = replace(message, soap_version=version, addressing=addressing)
    encoded = encode(message)
    assert encoded.content_type.startswith("text/xml" if version == "1.1" else "application/soap+xml")
    got = decode(encoded.content, encoded.content_type)
    expected = set()
    if version == "1.1":
        expected.add("soap.version-1.1")
    if addressing == "2005/08":
        expected.add("wsa.version-2005-08")
    assert {f.code for f in got.findings} == expected
    assert replace(got, findings=()) == replace(message, findings=())


def test_send_image_round_trips_with_its_image() -> None:
    message, _ = BUILT["send-image"]
    data = support.image("tiff-g4", pages=3)
    encoded = encode(message, (AttachmentData("page7@device", data, "application/octet-stream"),))
    got = decode(encoded.content, encoded.content_type)
    assert replace(got, attachments=()) == message
    [att] = got.attachments
    assert (att.content_id, att.size, att.sniffed_format) == ("page7@device", len(data), "tiff-multi-g4")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_decoded_example_round_trips(spec_dir: Path, name: str) -> None:
    example = support.load_example(spec_dir, name)
    first = decode(example.content, example.content_type)
    attachments = tuple(
        AttachmentData(a.content_id, bytes(a.data(example.content)), a.content_type or "")
        for a in first.attachments
    )
    encoded = encode(first, attachments)
    second = decode(encoded.content, encoded.content_type)
    assert _without_spans(second) == _without_spans(_repaired(first))
    # and once more: encoding is stable
    again = encode(second, attachments)
    third = decode(again.content, again.content_type)
    assert _without_spans(third) == _without_spans(second)


def _repaired(message: Message) -> Message:
    """What survives re-encoding a malformed example: the tree, not the fault."""
    return replace(message, findings=tuple(f for f in message.findings if f.code != "xml.malformed"))


def _without_spans(message: Message) -> Message:
    return replace(message, attachments=tuple(replace(a, span=(0, 0)) for a in message.attachments))


def test_build_roundtrip_helper() -> None:
    message, _ = BUILT["create"]
    assert build.roundtrip(message) == message
