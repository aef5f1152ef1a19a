"""Hostile request bodies, each from a real message built by ``wsdsp.build``
and damaged on purpose: XML bombs, external entities, absurd nesting,
broken encodings, mis-bounded MTOM, garbage, and the SOAP 1.1 and
WS-Addressing 1.0 variants of real messages.

Every entry is (name, body, content type, extra headers, what the decoded
request must show).  Hostile content goes into the text slot of a real
envelope (the JobToken), never into hand-written SOAP.
"""

from __future__ import annotations

import functools
import gzip
import os
import random
from dataclasses import dataclass, replace

from dspscope.wsdsp import AttachmentData, Message, build, encode

SERVER = "https://scan.example.test:5362/ScanServer/0b8e4a8e-2d0a-4c8e-9d4e-2f1f9b1c5a77"
TOKEN = "1ba72b60-c873-4d9d-b523-66616fe03ea9"
USER = "S-1-5-21-1004336348-1177238915-682003330-512"
PSP = "9e3b5a6c-1d2f-4b8a-8c7e-5f0a1b2c3d4e"
#: The full size of the whitespace body; CI sends a shorter one unless
#: DSPSCOPE_SOAK is set (both are over the decoder's 16 MB XML limit).
WHITESPACE_BYTES = 100_000_000 if os.environ.get("DSPSCOPE_SOAK") else 20_000_000
#: What /etc/passwd always holds; must never show up in a capture.
PASSWD_MARKER = "root:x:0:0"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@dataclass(frozen=True)
class Hostile:
    name: str
    body: bytes
    content_type: str | None
    headers: tuple[tuple[str, str], ...] = ()
    #: Finding codes the decoded request must carry (any of them).
    expect: tuple[str, ...] = ()
    #: The protocol the decoded request must have, if fixed.
    protocol: str | None = None


def real_messages() -> dict[str, tuple[Message, tuple[AttachmentData, ...]]]:
    """Real WS-DSP messages as devices and servers send them."""
    create = build.create_post_scan_job(to=SERVER, user=USER, psp_id=PSP)
    send = build.send_image(to=SERVER, token=TOKEN, document_id=1, format="png", content_id="p1@dev")
    status = {"JobToken": TOKEN, "JobState": "Processing", "ImagesReceived": 1}
    return {
        "create": (create, ()),
        "created": (build.response(create, {"JobToken": TOKEN}), ()),
        "send-image": (send, (AttachmentData("p1@dev", PNG * 40, "image/png"),)),
        "end": (build.job_request("EndPostScanJob", to=SERVER, token=TOKEN), ()),
        "cancel": (build.job_request("CancelPostScanJob", to=SERVER, token=TOKEN), ()),
        "elements": (build.get_elements(to=SERVER, token=TOKEN), ()),
        "fault": (build.fault(create, "InvalidArgs", "UserIdentifier"), ()),
        "status-event": (build.event("PostScanJobStatusEvent", {"JobStatus": status},
                                     to="http://device.example.test/events"), ()),
        "probe": (build.probe(to=SERVER), ()),
    }


def seeds() -> list[tuple[str, bytes, str]]:
    """(name, body, content type) of every real message, and of its SOAP 1.1,
    WS-Addressing 1.0 (2005/08) and SOAP 1.1 + WS-Addressing 1.0 forms."""
    out = []
    for name, (message, attachments) in real_messages().items():
        for variant, changes in (("", {}), ("soap11", {"soap_version": "1.1"}),
                                 ("wsa10", {"addressing": "2005/08"}),
                                 ("soap11-wsa10", {"soap_version": "1.1", "addressing": "2005/08"})):
            encoded = encode(replace(message, **changes), attachments)
            out.append((f"{name}-{variant}" if variant else name, encoded.content, encoded.content_type))
    return out


_SLOT = encode(build.job_request("CancelPostScanJob", to=SERVER, token=TOKEN)).content
_DECL, _, _ENVELOPE = _SLOT.partition(b"?>\n")
_DECL += b"?>\n"
_HEAD, _, _TAIL = _ENVELOPE.partition(TOKEN.encode())


def in_slot(inner: bytes, prolog: bytes = b"") -> bytes:
    """A real CancelPostScanJob whose JobToken text is ``inner``, after
    ``prolog`` (a DTD, a processing instruction)."""
    return _DECL + prolog + _HEAD + inner + _TAIL


def _mtom() -> tuple[bytes, str, bytes]:
    message, attachments = real_messages()["send-image"]
    encoded = encode(message, attachments)
    boundary = encoded.content_type.split('boundary="', 1)[1].split('"', 1)[0].encode()
    return encoded.content, encoded.content_type, boundary


@functools.lru_cache(maxsize=1)
def _gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes as gzip: one member of 16 MB repeated (a gzip
    stream may hold many members), about 1 KB per 1 MB."""
    member = gzip.compress(b"\0" * (16 << 20), compresslevel=9)
    return member * (size // (16 << 20))


@functools.lru_cache(maxsize=2)
def hostile(listener_port: int) -> list[Hostile]:
    """The hand-picked corpus; ``listener_port`` is where network entities
    point (a listener that must never be contacted)."""
    there = f"http://127.0.0.1:{listener_port}"
    soap = "application/soap+xml; charset=utf-8"
    dtd = ("xml.dtd-forbidden",)
    out: list[Hostile] = []

    def add(name: str, body: bytes, ctype: str | None = soap, expect: tuple[str, ...] = (),
            protocol: str | None = None, headers: tuple[tuple[str, str], ...] = ()) -> None:
        out.append(Hostile(name, body, ctype, headers, expect, protocol))

    # XML bombs: expansion would be 3 GB and 1 GB.
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    add("billion-laughs", in_slot(b"&l9;", f'<!DOCTYPE x [<!ENTITY l0 "lol">{laughs}]>'.encode()),
        expect=dtd, protocol="soap")
    big = "a" * 100_000
    add("quadratic-blowup", in_slot(b"&a;" * 20_000, f'<!DOCTYPE x [<!ENTITY a "{big}">]>'.encode()),
        expect=dtd, protocol="soap")
    add("billion-laughs-utf16", (_DECL.replace(b'encoding="utf-8"', b'encoding="UTF-16"')
                                 + f'<!DOCTYPE x [<!ENTITY l0 "lol">{laughs}]>'.encode()
                                 + _HEAD + b"&l9;" + _TAIL).decode().encode("utf-16"),
        expect=dtd, protocol="soap")

    # External entities: a file, a URL, a parameter entity, an external DTD.
    add("xxe-file", in_slot(b"&x;", b'<!DOCTYPE x [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
        expect=dtd)
    add("xxe-network", in_slot(b"&x;", f'<!DOCTYPE x [<!ENTITY x SYSTEM "{there}/entity">]>'.encode()),
        expect=dtd)
    add("xxe-parameter", in_slot(b"t", f'<!DOCTYPE x [<!ENTITY % p SYSTEM "{there}/p.dtd"> %p;]>'.encode()),
        expect=dtd)
    add("xxe-external-dtd", in_slot(b"t", f'<!DOCTYPE x SYSTEM "{there}/x.dtd">'.encode()), expect=dtd)
    add("xxe-behind-comment", in_slot(b"&x;", b"<!--" + b"c" * 70_000 + b"-->"
                                      + b'<!DOCTYPE x [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
        expect=dtd)
    add("xxe-in-mtom-root", *_mtom_with_dtd(there))
    add("xinclude", in_slot(b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                            b'href="file:///etc/passwd" parse="text"/>'))
    add("xinclude-network", in_slot(f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                                    f'href="{there}/xi" parse="text"/>'.encode()))
    add("schema-location", in_slot(f'<t xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                                   f'xsi:schemaLocation="urn:x {there}/s.xsd">t</t>'.encode()))
    add("stylesheet-pi", in_slot(b"t", f'<?xml-stylesheet type="text/xsl" href="{there}/s.xsl"?>'.encode()))

    # Sizes and shapes the parser must refuse or survive.
    add("deep-nesting", in_slot(b"<a>" * 100_000 + b"</a>" * 100_000), expect=("xml.malformed",))
    add("wide-attributes", in_slot(b"<a " + b" ".join(b'a%d="1"' % i for i in range(50_000)) + b"/>"))
    add("many-namespaces", in_slot(b"<a " + b" ".join(b'xmlns:n%d="urn:%d"' % (i, i)
                                                        for i in range(20_000)) + b"/>"))
    add("huge-text", in_slot(b"x" * (17 * 1024 * 1024)), expect=("xml.too-large",))
    add("whitespace", b" " * WHITESPACE_BYTES, expect=("xml.not-xml",), protocol="not-soap")
    add("whitespace-untyped", b"\n" * WHITESPACE_BYTES, None, protocol="not-soap")
    add("envelope-after-whitespace", _DECL + b" " * WHITESPACE_BYTES + _ENVELOPE, "text/xml",
        expect=("xml.too-large",))

    # Broken character encodings.
    add("invalid-utf8", in_slot(b"\xff\xfe\xc0\x80\xed\xa0\x80"), expect=("xml.malformed",))
    add("utf16-declared-utf8", _SLOT.decode().encode("utf-16-le"), soap)
    add("utf16-odd-length", _SLOT.decode().encode("utf-16")[:-1], expect=("xml.malformed",))
    add("utf16-lone-surrogate", (_DECL + _HEAD).decode().encode("utf-16-le") + b"\x00\xd8"
        + _TAIL.decode().encode("utf-16-le"), expect=("xml.malformed",))
    add("charset-lies", _SLOT, "application/soap+xml; charset=utf-16")
    add("nul-bytes", in_slot(b"\x00" * 64), expect=("xml.malformed",))

    # Truncated and mis-bounded MTOM.
    body, ctype, boundary = _mtom()
    for fraction in (0.1, 0.5, 0.9):
        add(f"mtom-truncated-{int(fraction * 100)}", body[: int(len(body) * fraction)], ctype)
    add("mtom-no-closing-boundary", body[: body.rindex(b"--" + boundary + b"--")], ctype,
        expect=("mtom.truncated", "mtom.unterminated"))
    add("mtom-wrong-boundary", body, ctype.replace(boundary.decode(), "uuid:nope"),
        expect=("mtom.boundary-not-found",), protocol="not-soap")
    add("mtom-no-boundary", body, 'multipart/related; type="application/xop+xml"',
        expect=("mtom.no-boundary",), protocol="not-soap")
    add("mtom-wrong-start", body, ctype.replace('start="<', 'start="<x'), expect=("mtom.root-not-found",))
    add("mtom-boundary-inside-image", body.replace(PNG[:8], b"\r\n--" + boundary + b"\r\n" + PNG[:8], 1),
        ctype)
    add("mtom-missing-part", body.replace(b"Content-ID: <p1@dev>", b"Content-ID: <p2@dev>"), ctype,
        expect=("mtom.attachment-missing",))
    parts = b"".join(b"--" + boundary + b"\r\nContent-ID: <%d@x>\r\n\r\nx\r\n" % i for i in range(5000))
    add("mtom-5000-parts", body.replace(b"--" + boundary + b"--", parts + b"--" + boundary + b"--"), ctype,
        expect=("mtom.too-many-parts",))
    add("mtom-huge-part-headers", body.replace(b"Content-ID: <p1@dev>",
                                               b"X-Pad: " + b"p" * 200_000 + b"\r\nContent-ID: <p1@dev>"), ctype)
    add("multipart-label-plain-xml", _SLOT, ctype)

    # Garbage, and encodings that lie or explode.
    rng = random.Random(5362)
    junk = bytes(rng.getrandbits(8) for _ in range(200_000))
    for label, junk_type in (("soap", soap), ("mtom", ctype), ("none", None), ("png", "image/png")):
        add(f"binary-garbage-{label}", junk, junk_type)
    add("gzip-bomb", _gzip_bomb(1 << 30), soap, expect=("http.not-decompressed",),
        headers=(("Content-Encoding", "gzip"),))
    add("gzip-lies", _SLOT, soap, expect=("http.not-decompressed",), headers=(("Content-Encoding", "gzip"),))
    add("bz2-coding", _SLOT, soap, expect=("http.not-decompressed",), headers=(("Content-Encoding", "bz2"),))
    add("gzip-real", gzip.compress(_SLOT), soap, headers=(("Content-Encoding", "gzip"),), protocol="ws-dsp")

    # Captured text that tries to steer a terminal.
    add("terminal-controls", in_slot("[@click=app.quit]x[/] \u202eevil\u202c [bold]b[/]".encode()))
    return out


def _mtom_with_dtd(there: str) -> tuple[bytes, str, tuple[str, ...]]:
    body, ctype, _ = _mtom()
    dtd = f'<!DOCTYPE x [<!ENTITY x SYSTEM "{there}/mtom">]>'.encode()
    return body.replace(b"<soap:Envelope", dtd + b"<soap:Envelope", 1), ctype, ("xml.dtd-forbidden",)
