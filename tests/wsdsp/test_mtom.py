"""SendImage as MTOM: attachments found in place with their id, type, size,
hash and real format; broken packages reported, never fatal."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from dspscope.wsdsp import AttachmentData, Message, build, decode, encode
from tests.wsdsp import support

TO = "https://scan.example:5362/ScanServer/4d15d73c-bbcd-4cba-beae-07e1f8ea9475"
TOKEN = "264a19bf-3604-4603-b59d-b47e0f669a1e"


def send_image(fmt: str, content_id: str = "image1@dspscope", doc: int = 1) -> Message:
    return build.send_image(to=TO, token=TOKEN, document_id=doc, format=fmt, content_id=content_id)


def package(
    xml: bytes,
    attachments: list[tuple[str, bytes]],
    *,
    nl: bytes = b"\r\n",
    boundary: str = "MIMEBoundary_0b8c1f",
    quoted: bool = True,
    start: str | None = "<root@dspscope>",
    close: bool = True,
    preamble: bytes = b"",
    padding: bytes = b"",
) -> tuple[bytes, str]:
    """MIME framing around XML the encoder built (framing only: no XML here)."""
    delim = b"--" + boundary.encode()
    chunks = [preamble, delim, padding, nl,
              b"Content-Type: application/xop+xml; charset=utf-8; type=\"application/soap+xml\"", nl,
              b"Content-ID: <root@dspscope>", nl, nl, xml]
    for cid, data in attachments:
        chunks += [nl, delim, padding, nl, b"Content-Type: application/octet-stream", nl,
                   b"Content-Transfer-Encoding: binary", nl,
                   b"Content-ID: <" + cid.encode() + b">", nl, nl, data]
    if close:
        chunks += [nl, delim, b"--", nl, b"epilogue, ignored", nl]
    b = f'"{boundary}"' if quoted else boundary
    ct = f'multipart/related; type="application/xop+xml"; boundary={b}'
    if start:
        ct += f'; start="{start}"'
    return b"".join(chunks), ct + '; start-info="application/soap+xml"'


def xml_of(message: Message) -> bytes:
    return encode(message).content


def codes(message: Message) -> set[str]:
    return {f.code for f in message.findings}


# (declared Format, image kind, pages, sniffed format, mismatch?)
FORMATS = [
    ("png", "png", 1, "png", False),
    ("jfif", "jpeg", 1, "jfif", False),
    ("exif", "jpeg", 1, "jfif", False),  # JPEG flavours are not told apart strictly
    ("pdf-a", "pdf", 1, "pdf-a", False),
    ("dib", "bmp", 1, "dib", False),
    ("tiff-single-g4", "tiff-g4", 1, "tiff-single-g4", False),
    ("tiff-multi-g4", "tiff-g4", 3, "tiff-multi-g4", False),
    ("tiff-single-g3mh", "tiff-g3", 1, "tiff-single-g3mh", False),
    ("tiff-single-uncompressed", "tiff-raw", 1, "tiff-single-uncompressed", False),
    ("tiff-multi-uncompressed", "tiff-raw", 2, "tiff-multi-uncompressed", False),
    ("tiff-single-jpeg-tn2", "tiff-jpeg", 1, "tiff-single-jpeg-tn2", False),
    ("png", "jpeg", 1, "jfif", True),
    ("pdf-a", "png", 1, "png", True),
    ("tiff-single-g4", "tiff-g4", 2, "tiff-multi-g4", True),
    ("tiff-multi-g4", "tiff-raw", 2, "tiff-multi-uncompressed", True),
    ("jfif", "tiff-g4", 1, "tiff-single-g4", True),
]


@pytest.mark.parametrize(("declared", "kind", "pages", "sniffed", "mismatch"), FORMATS)
def test_attachment_reported_with_real_format(
    declared: str, kind: str, pages: int, sniffed: str, mismatch: bool
) -> None:
    data = support.image(kind, pages=pages)
    message = send_image(declared)
    encoded = encode(message, (AttachmentData("image1@dspscope", data, "image/x-scan"),))
    got = decode(encoded.content, encoded.content_type)
    assert (got.operation, got.kind, got.job_token) == ("SendImage", "request", TOKEN)
    [att] = got.attachments
    assert att.content_id == "image1@dspscope"
    assert att.content_type == "image/x-scan"
    assert att.size == len(data)
    assert att.sha256 == hashlib.sha256(data).hexdigest()
    assert att.sniffed_format == sniffed
    assert att.referenced
    assert bytes(att.data(encoded.content)) == data
    assert ("mtom.format-mismatch" in codes(got)) is mismatch
    assert codes(got) <= {"mtom.format-mismatch"}
    # Round trip: the message is the built one, plus what the image added.
    assert replace(got, attachments=(), findings=()) == replace(message, findings=())


def test_attachment_is_a_view_not_a_copy() -> None:
    data = support.image("png") + bytes(1_000_000)
    encoded = encode(send_image("png"), (AttachmentData("image1@dspscope", data),))
    body = encoded.content
    [att] = decode(body, encoded.content_type).attachments
    view = att.data(body)
    assert view.obj is body and len(view) == len(data)


def test_hashing_can_be_skipped() -> None:
    encoded = encode(send_image("png"), (AttachmentData("image1@dspscope", support.image("png")),))
    [att] = decode(encoded.content, encoded.content_type, hash_attachments=False).attachments
    assert att.sha256 == "" and att.sniffed_format == "png"


@pytest.mark.parametrize("nl", [b"\r\n", b"\n"], ids=["crlf", "lf-only"])
@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
@pytest.mark.parametrize("padding", [b"", b" \t "], ids=["tight", "padded"])
def test_framing_variants(nl: bytes, quoted: bool, padding: bytes) -> None:
    data = support.image("tiff-g4", pages=2)
    body, ct = package(xml_of(send_image("tiff-multi-g4")), [("image1@dspscope", data)],
                       nl=nl, quoted=quoted, padding=padding, preamble=b"This is MIME." + nl)
    got = decode(body, ct)
    assert got.operation == "SendImage" and codes(got) == set()
    [att] = got.attachments
    assert bytes(att.data(body)) == data and att.sniffed_format == "tiff-multi-g4"


def test_image_bytes_that_look_like_line_breaks_are_kept() -> None:
    data = b"\r\n\r\n--MIMEBoundary_0b8c1fX\r\n" + support.image("png") + b"\r\n"
    body, ct = package(xml_of(send_image("png")), [("image1@dspscope", data)])
    [att] = decode(body, ct).attachments
    assert bytes(att.data(body)) == data


@pytest.mark.parametrize(
    ("content_id", "href"),
    [
        ("a b%@x/y", "cid:a%20b%25@x%2Fy"),  # escaped as RFC 2392 says
        ("a b@x", "cid:a b@x"),  # some stacks do not escape
        ("a%41@x", "cid:a%2541@x"),  # a literal % in the header is not unescaped
        ("Mixed.Case@X", "CID:Mixed.Case@X"),
        ("x@y", "  cid:<x@y>  "),
    ],
)
def test_cid_urls(content_id: str, href: str) -> None:
    message = send_image("png")
    fields = dict(message.fields)
    request = dict(fields["SendImageRequest"])
    request["ImageData"] = {"Include": {"@href": href}}
    message = replace(message, fields={"SendImageRequest": request})
    body, ct = package(xml_of(message), [(content_id, support.image("png"))])
    got = decode(body, ct)
    [att] = got.attachments
    assert att.content_id == content_id and att.referenced
    assert codes(got) == set()


def test_missing_attachment() -> None:
    body, ct = package(xml_of(send_image("png", content_id="wanted@x")), [("other@x", support.image("png"))])
    got = decode(body, ct)
    assert "mtom.attachment-missing" in codes(got)
    [att] = got.attachments
    assert not att.referenced


def test_no_image_part_at_all() -> None:
    body, ct = package(xml_of(send_image("png")), [])
    got = decode(body, ct)
    assert got.attachments == () and "mtom.attachment-missing" in codes(got)


def test_send_image_without_mtom() -> None:
    encoded = encode(send_image("png"))
    got = decode(encoded.content, encoded.content_type)
    assert got.operation == "SendImage" and "mtom.attachment-missing" in codes(got)


def test_send_image_without_include() -> None:
    message = send_image("png")
    request = dict(message.fields["SendImageRequest"])
    request["ImageData"] = {}
    body, ct = package(xml_of(replace(message, fields={"SendImageRequest": request})), [])
    assert "mtom.attachment-missing" in codes(decode(body, ct))


def test_truncated_inside_the_image() -> None:
    data = support.image("pdf")
    body, ct = package(xml_of(send_image("pdf-a")), [("image1@dspscope", data)], close=False)
    body = body[: -len(data) // 2]
    got = decode(body, ct)
    assert got.operation == "SendImage" and got.job_token == TOKEN
    assert "mtom.truncated" in codes(got)
    [att] = got.attachments
    assert att.size < len(data) and att.sniffed_format == "pdf-a"


def test_truncated_inside_part_headers() -> None:
    body, ct = package(xml_of(send_image("png")), [("image1@dspscope", support.image("png"))])
    cut = body.index(b"Content-Transfer-Encoding") + 10
    got = decode(body[:cut], ct)
    assert got.operation == "SendImage" and "mtom.truncated" in codes(got)


def test_truncated_inside_the_root_part() -> None:
    body, ct = package(xml_of(send_image("png")), [("image1@dspscope", support.image("png"))])
    cut = body.index(b"<soap:Body>") + 20
    got = decode(body[:cut], ct)
    assert {"mtom.truncated", "xml.malformed"} <= codes(got)
    assert got.protocol == "ws-dsp"


def test_unterminated_but_complete() -> None:
    body, ct = package(xml_of(send_image("png")), [("image1@dspscope", support.image("png"))], close=False)
    got = decode(body, ct)
    assert "mtom.truncated" in codes(got)
    assert got.attachments[0].sniffed_format == "png"


@pytest.mark.parametrize("declared", ["SomethingElse", "MIMEBoundary_0b8", "MIMEBoundary_0b8c1fX"])
def test_wrong_boundary(declared: str) -> None:
    body, _ = package(xml_of(send_image("png")), [("image1@dspscope", support.image("png"))])
    got = decode(body, f'multipart/related; boundary="{declared}"; type="application/xop+xml"')
    assert got.protocol == "not-soap"
    assert codes(got) == {"mtom.boundary-not-found"}


def test_no_boundary_parameter() -> None:
    body, _ = package(xml_of(send_image("png")), [])
    got = decode(body, 'multipart/related; type="application/xop+xml"')
    assert got.protocol == "not-soap" and codes(got) == {"mtom.no-boundary"}


def test_labelled_multipart_but_plain_xml() -> None:
    encoded = encode(send_image("png"))
    got = decode(encoded.content, 'multipart/related; boundary="b"; type="application/xop+xml"')
    assert got.operation == "SendImage"
    assert "mtom.boundary-not-found" in codes(got)


def test_root_part_is_the_first_without_start() -> None:
    body, ct = package(xml_of(send_image("png")), [("image1@dspscope", support.image("png"))], start=None)
    got = decode(body, ct)
    assert got.operation == "SendImage" and codes(got) == set()


def test_start_naming_no_part_falls_back_to_the_first() -> None:
    body, ct = package(xml_of(send_image("png")), [("image1@dspscope", support.image("png"))],
                       start="<nowhere@x>")
    got = decode(body, ct)
    assert got.operation == "SendImage"
    assert "mtom.root-not-found" in codes(got)


def test_root_part_that_is_not_xml() -> None:
    body, ct = package(b"\x89PNG not xml", [])
    got = decode(body, ct)
    assert got.protocol == "not-soap" and "xml.not-xml" in codes(got)


def test_many_parts_are_bounded() -> None:
    parts = [(f"p{i}@x", b"x") for i in range(1200)]
    body, ct = package(xml_of(send_image("png", content_id="p0@x")), parts)
    got = decode(body, ct)
    assert "mtom.too-many-parts" in codes(got)
    assert len(got.attachments) < 1000


def test_large_image() -> None:
    data = support.image("tiff-g4") + bytes(range(256)) * 40_000  # ~10 MB
    encoded = encode(send_image("tiff-single-g4"), (AttachmentData("image1@dspscope", data),))
    [att] = decode(encoded.content, encoded.content_type).attachments
    assert att.size == len(data) and att.sha256 == hashlib.sha256(data).hexdigest()


def test_include_with_a_comment_inside_is_counted_once() -> None:
    from lxml import etree

    root = etree.fromstring(xml_of(send_image("png", content_id="gone@x")))
    include = next(root.iter("{http://www.w3.org/2004/08/xop/include}Include"))
    include.append(etree.Comment(" the image "))
    body, ct = package(etree.tostring(root), [])
    got = decode(body, ct)
    assert [f.code for f in got.findings] == ["mtom.attachment-missing"]
    assert got.body["ImageData"]["Include"] == {"@href": "cid:gone@x"}


@pytest.mark.parametrize("start", ["<root@dspscope>", None, "<nowhere@x>"])
@pytest.mark.parametrize("close", [True, False])
def test_root_part_alone_is_the_root_split_finds(start: str | None, close: bool) -> None:
    from dspscope.wsdsp import mtom

    body, ct = package(xml_of(send_image("png")), [("a@x", support.image("png")), ("b@x", b"zz")],
                       start=start, close=close)
    assert mtom.root_part(body, ct) == mtom.split(body, ct).root


def test_root_part_does_not_read_past_the_root() -> None:
    from dspscope.wsdsp import mtom

    body, ct = package(xml_of(send_image("png")), [("a@x", support.image("png"))], close=False)
    cut = body[: body.index(b"Content-ID: <a@x>")]  # the image part never arrives
    assert mtom.root_part(cut, ct) == mtom.split(body, ct).root


def test_xml_span_is_the_root_part_or_the_whole_body() -> None:
    from dspscope.wsdsp import mtom

    att = AttachmentData("img@x", b"\x89PNG" + b"\0" * 64, "image/png")
    message = build.send_image(to="https://s/", token="{1BA72B60-C873-4D9D-B523-66616FE03EA9}",
                               document_id=1, format="png", content_id="img@x")
    packaged = encode(message, (att,))
    span = mtom.xml_span(packaged.content, packaged.content_type)
    assert span is not None
    root = mtom.split(packaged.content, packaged.content_type).root
    assert root is not None and span == (root.start, root.end)
    assert packaged.content[span[0] : span[1]].lstrip().startswith(b"<?xml")
    assert mtom.xml_span(b"<x/>", "application/soap+xml") == (0, 4)
    assert mtom.xml_span(b"<x/>", None) == (0, 4)
    assert mtom.xml_span(b"no parts", 'multipart/related; boundary="b"') is None
