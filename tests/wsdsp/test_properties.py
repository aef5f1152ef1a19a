"""Property tests: decode never raises, never hangs and always answers with
a JSON-able Message, on arbitrary bytes and on mutated valid messages."""

from __future__ import annotations

import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dspscope.wsdsp import AttachmentData, Message, build, decode, encode
from tests.wsdsp import support

# Generous per-example deadline: two cores may be busy with other suites.
# A hang (or a blow-up) still fails, with the example that caused it.
PROPERTY = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _seeds() -> list[tuple[bytes, str]]:
    built = support.built_messages()
    out = [(encode(built[name][0]).content, encode(built[name][0]).content_type)
           for name in ("create", "elements-response", "fault-InvalidArgs", "status-event",
                        "transfer-get-response")]
    image = build.send_image(to=support.SERVER, token=support.TOKEN, document_id=1,
                             format="tiff-single-g4", content_id="p1@d")
    mtom = encode(image, (AttachmentData("p1@d", support.image("tiff-g4")),))
    out.append((mtom.content, mtom.content_type))
    return out


SEEDS = _seeds()
BOUNDARY = SEEDS[-1][1].split('boundary="', 1)[1].split('"', 1)[0].encode()

CONTENT_TYPES = st.one_of(
    st.none(),
    st.sampled_from(["application/soap+xml; charset=utf-8", "text/xml", "application/xop+xml",
                     SEEDS[-1][1], "multipart/related", "multipart/related; boundary=",
                     'multipart/related; boundary="x"; start="<nope>"']),
    st.text(max_size=80),
    st.builds(lambda b, s: f'multipart/related; boundary="{b}"; start="{s}"',
              st.text(max_size=20), st.text(max_size=20)),
)

TOKENS = st.sampled_from([
    b"<", b">", b"</", b"/>", b"<!DOCTYPE x>", b"<!--", b"-->", b"<![CDATA[", b"&", b"&#0;",
    b"&lol;", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\r\n", b"\r\n--" + BOUNDARY + b"\r\n",
    b"\r\n--" + BOUNDARY + b"--", b"Content-ID: <p1@d>\r\n\r\n", b"xmlns:a='urn:x'", b"<a:b>",
    b"II*\x00", b"\x89PNG\r\n\x1a\n",
])


def _sound(message: Message) -> None:
    assert isinstance(message, Message)
    codes = {f.code for f in message.findings}
    assert "decode.internal" not in codes, message.findings
    json.dumps(message.to_json())


@PROPERTY
@given(content=st.binary(max_size=4096), content_type=CONTENT_TYPES)
def test_arbitrary_bytes(content: bytes, content_type: str | None) -> None:
    _sound(decode(content, content_type))


@PROPERTY
@given(text=st.text(alphabet=st.sampled_from(list("<>/=\"' ?!-:abxyz&;#[]\n")), max_size=300),
       content_type=CONTENT_TYPES)
def test_arbitrary_markup(text: str, content_type: str | None) -> None:
    """Bytes from markup characters reach the parser far more often than noise."""
    _sound(decode(text.encode(), content_type))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, str | None]:
    content, content_type = draw(st.sampled_from(SEEDS))
    data = bytearray(content)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "token", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "token":
            data[at:at] = draw(TOKENS)
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
    keep_type = draw(st.booleans())
    return bytes(data), content_type if keep_type else draw(CONTENT_TYPES)


@PROPERTY
@given(case=mutated())
def test_mutated_valid_messages(case: tuple[bytes, str | None]) -> None:
    content, content_type = case
    _sound(decode(content, content_type))


@PROPERTY
@given(case=mutated(), request_index=st.integers(0, len(SEEDS) - 1))
def test_mutated_responses_with_a_request(case: tuple[bytes, str | None], request_index: int) -> None:
    content, content_type = SEEDS[request_index]
    request = decode(content, content_type)
    _sound(decode(case[0], case[1], request=request))


@PROPERTY
@given(cut=st.integers(0, len(SEEDS[-1][0])))
def test_every_truncation_of_an_upload(cut: int) -> None:
    """A device that crashes mid-upload: any prefix of a SendImage package."""
    content, content_type = SEEDS[-1]
    message = decode(content[:cut], content_type)
    _sound(message)
    for att in message.attachments:
        assert att.span[1] <= cut
