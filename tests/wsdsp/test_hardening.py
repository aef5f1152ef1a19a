"""Hostile bodies: XML bombs, external entities, absurd nesting, oversized
and broken input.  Each comes back as findings, never expanded, never read."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from dspscope.wsdsp import Message, build, decode, encode, xmlparse
from tests.wsdsp import support

TOKEN = "1ba72b60-c873-4d9d-b523-66616fe03ea9"
# A real message (built, never hand-written) whose JobToken text is the slot
# for hostile content.
_REAL = encode(build.job_request("CancelPostScanJob", to="https://s/ScanServer/x", token=TOKEN))
_HEAD, _, _TAIL = _REAL.content.partition(TOKEN.encode())
_HEAD = _HEAD.partition(b"?>\n")[2] or _HEAD  # no XML declaration: tests add their own prolog


class _Envelope:
    def __mod__(self, inner: bytes) -> bytes:
        return _HEAD + inner + _TAIL


ENVELOPE = _Envelope()


def bomb(levels: int, base: str, fanout: int = 10) -> bytes:
    """A billion-laughs document: base * fanout**levels characters if expanded."""
    lines = [f'<!ENTITY e0 "{base}">']
    for i in range(1, levels + 1):
        lines.append(f'<!ENTITY e{i} "{f"&e{i - 1};" * fanout}">')
    dtd = "<!DOCTYPE x [\n" + "\n".join(lines) + "\n]>\n"
    return b'<?xml version="1.0"?>\n' + dtd.encode() + ENVELOPE % f"&e{levels};".encode()


CLASSIC = bomb(9, "lol")  # 3 GB
ONE_GB = bomb(6, "a" * 1000)  # 10**6 * 1000 bytes


def _hide(doc: bytes, how: str) -> bytes:
    decl, _, rest = doc.partition(b"?>\n")
    if how == "after-long-comment":
        return decl + b"?>\n<!--" + b"x" * 100_000 + b"-->\n" + rest
    if how == "after-long-space":
        return b" " * 100_000 + rest
    if how == "after-pi":
        return decl + b"?><?vendor a='1'?>\n" + rest
    if how == "bom":
        return b"\xef\xbb\xbf" + doc
    if how == "utf16":
        return doc.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16")
    if how == "utf16be-no-bom":
        return rest.decode().encode("utf-16-be")
    if how == "utf32":
        return rest.decode().encode("utf-32")
    return doc


HIDING = ["plain", "after-long-comment", "after-long-space", "after-pi", "bom", "utf16",
          "utf16be-no-bom", "utf32"]


def _refused(message: Message) -> None:
    assert [f.code for f in message.findings] == ["xml.dtd-forbidden"]
    assert message.fields == {} and message.headers == {}
    assert message.kind == "unknown" and message.operation is None
    assert len(json.dumps(message.to_json())) < 2000


@pytest.mark.parametrize("how", HIDING)
@pytest.mark.parametrize("doc", [CLASSIC, ONE_GB], ids=["classic", "1GB"])
def test_billion_laughs_refused_not_expanded(doc: bytes, how: str) -> None:
    message = decode(_hide(doc, how), "application/soap+xml")
    _refused(message)
    assert message.protocol == "soap"  # it does look like an envelope


def test_billion_laughs_python_memory_is_bounded() -> None:
    decode(ONE_GB)  # warm caches
    tracemalloc.start()
    try:
        for how in HIDING:
            decode(_hide(ONE_GB, how))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The UTF-32 form (~0.5 MB) is decoded once for the prolog walk; nothing
    # near the expansion's size is ever allocated.
    assert peak < 4 * 1024 * 1024


RSS_PROBE = """
import resource, sys
from dspscope.wsdsp import decode
from tests.wsdsp.test_hardening import CLASSIC, HIDING, ONE_GB, _hide
decode(b'<a/>')
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for doc in (CLASSIC, ONE_GB):
    for how in HIDING:
        decode(_hide(doc, how))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024)
"""


def test_billion_laughs_process_memory_is_bounded() -> None:
    """Peak RSS (which counts libxml2's C allocations too) barely moves."""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", RSS_PROBE], cwd=root, check=True,
                         capture_output=True, text=True)
    growth = int(out.stdout.strip())
    assert growth < 32 * 1024 * 1024


PASSWD_LINE = next(
    (line for line in Path("/etc/passwd").read_text().splitlines() if line.strip()), "root:x:0:0"
) if Path("/etc/passwd").exists() else "root:x:0:0"


def _xxe_documents(target: str) -> dict[str, bytes]:
    tail = ENVELOPE % b"&ext;"
    return {
        "general": f'<!DOCTYPE x [<!ENTITY ext SYSTEM "{target}">]>'.encode() + tail,
        "parameter": f'<!DOCTYPE x [<!ENTITY % p SYSTEM "{target}"> %p;]>'.encode() + tail,
        "external-subset": f'<!DOCTYPE x SYSTEM "{target}">'.encode() + tail,
        "public": f'<!DOCTYPE x PUBLIC "-//X//Y" "{target}">'.encode() + tail,
        "behind-comment": b"<!--" + b"c" * 5000 + b"-->"
        + f'<!DOCTYPE x [<!ENTITY ext SYSTEM "{target}">]>'.encode() + tail,
    }


@pytest.mark.parametrize("kind", sorted(_xxe_documents("file:///etc/passwd")))
def test_xxe_file_is_refused_and_never_in_the_result(kind: str) -> None:
    message = decode(_xxe_documents("file:///etc/passwd")[kind], "application/soap+xml")
    _refused(message)
    dumped = json.dumps(message.to_json()) + repr(message)
    assert PASSWD_LINE not in dumped and "root:" not in dumped


@pytest.fixture
def trap_fifo(tmp_path: Path) -> Iterator[tuple[Path, list[bool]]]:
    """A named pipe that records whether anybody opened it for reading.

    Opening a FIFO for reading blocks until a writer comes, so a parser that
    tried to read it would stop; the watcher opens the writing end as soon
    as a reader waits, records it and lets the parser go on."""
    fifo = tmp_path / "secret"
    os.mkfifo(fifo)
    opened: list[bool] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                stop.wait(0.001)  # the watcher's own pace: no reader yet; not a wait for state
                continue
            opened.append(True)
            os.write(fd, b"<!ENTITY leak 'SECRET'>")
            os.close(fd)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    yield fifo, opened
    stop.set()
    watcher.join(5)


@pytest.mark.parametrize("kind", sorted(_xxe_documents("file:///x")))
def test_xxe_never_opens_the_file(trap_fifo: tuple[Path, list[bool]], kind: str) -> None:
    fifo, opened = trap_fifo
    message = decode(_xxe_documents(fifo.as_uri())[kind])
    assert "xml.dtd-forbidden" in {f.code for f in message.findings}
    assert opened == []


def test_parser_itself_never_opens_external_entities(trap_fifo: tuple[Path, list[bool]]) -> None:
    """Second line of defence: even a DTD past the prolog check cannot make
    the parser read a file (lxml's resolvers are asked first)."""
    fifo, opened = trap_fifo
    for doc in _xxe_documents(fifo.as_uri()).values():
        for recover in (False, True):
            try:
                xmlparse.etree.fromstring(doc, xmlparse.parser(recover))
            except xmlparse.etree.XMLSyntaxError:
                pass
    assert opened == []


def test_dtd_the_prolog_walk_missed_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xmlparse, "after_prolog", lambda xml: "element")
    message = decode(_xxe_documents("file:///etc/passwd")["general"])
    _refused(message)


def test_xxe_http_never_connects() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.setblocking(False)
        port = server.getsockname()[1]
        for doc in _xxe_documents(f"http://127.0.0.1:{port}/x.dtd").values():
            _refused(decode(doc))
        with pytest.raises(BlockingIOError):
            server.accept()


def test_parameter_entities_refused() -> None:
    doc = (b"<!DOCTYPE x [<!ENTITY % a \"<!ENTITY b 'bbbbbbbb'>\"> %a;"
           b"<!ENTITY % c '&#37;a;'>]>" + ENVELOPE % b"&b;")
    _refused(decode(doc))


@pytest.mark.parametrize("closed", [True, False])
def test_deep_nesting_is_bounded(closed: bool) -> None:
    depth = 100_000
    inner = b"<a>" * depth + (b"</a>" * depth if closed else b"")
    message = decode(ENVELOPE % inner)
    codes = {f.code for f in message.findings}
    assert "xml.malformed" in codes and "decode.internal" not in codes
    assert message.protocol == "ws-dsp"  # the recovered tree still says what it was
    text = next(f.text for f in message.findings if f.code == "xml.malformed")
    assert "depth" in text.lower()


def test_nesting_within_the_parser_limit_decodes() -> None:
    depth = 250  # with Envelope/Body/CancelPostScanJobRequest/JobToken: libxml2's 256
    message = decode(ENVELOPE % (b"<a>" * depth + b"deep" + b"</a>" * depth))
    assert "decode.internal" not in {f.code for f in message.findings}
    node = message.body["JobToken"]
    for _ in range(depth - 1):
        node = node["a"]
    assert node["a"] == "deep"
    json.dumps(message.to_json())


def test_oversized_xml_is_not_parsed() -> None:
    big = ENVELOPE % (b"<y>" + b"z" * (xmlparse.MAX_XML_BYTES + 1) + b"</y>")
    message = decode(big, "application/soap+xml")
    assert [f.code for f in message.findings] == ["xml.too-large"]
    assert message.fields == {}


def test_oversized_mtom_root_part_is_not_parsed() -> None:
    big = ENVELOPE % (b"<y>" + b"z" * (xmlparse.MAX_XML_BYTES + 1) + b"</y>")
    body = (b"--b\r\nContent-Type: application/xop+xml\r\nContent-ID: <r>\r\n\r\n" + big
            + b"\r\n--b--\r\n")
    message = decode(body, 'multipart/related; boundary=b; start="<r>"')
    assert "xml.too-large" in {f.code for f in message.findings}


def test_oversized_garbage_is_just_not_soap() -> None:
    message = decode(b"\x00\x01garbage" * (xmlparse.MAX_XML_BYTES // 8))
    assert message.protocol == "not-soap" and message.findings == ()


def test_invalid_utf8_is_malformed_not_a_crash() -> None:
    message = decode(ENVELOPE % b"caf\xc3 \xff\xfe bad")
    codes = {f.code for f in message.findings}
    assert "xml.malformed" in codes and "decode.internal" not in codes
    assert message.operation == "CancelPostScanJob"


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x00" * 64, bytes(range(256)) * 4, b"GIF89a\x01\x00", b"{\"json\": true}",
     b"HTTP/1.1 200 OK\r\n\r\n", b"<html><body>scan</body></html>", b"<", b"<<<<>>>>",
     support.image("png"), support.image("pdf")],
    ids=["empty", "zeros", "bytes", "gif", "json", "http", "html", "lt", "brackets", "png", "pdf"],
)
def test_garbage_is_not_soap(garbage: bytes) -> None:
    message = decode(garbage)
    assert message.protocol == "not-soap"
    assert "decode.internal" not in {f.code for f in message.findings}


def test_garbage_declared_as_xml_says_so() -> None:
    message = decode(b"\x89PNG....", "application/soap+xml; charset=utf-8")
    assert message.protocol == "not-soap"
    assert [f.code for f in message.findings] == ["xml.not-xml"]


def test_envelope_after_long_leading_space_is_read() -> None:
    message = decode(b" \r\n" * 10_000 + ENVELOPE % b"1")
    assert message.protocol == "ws-dsp" and message.body == {"JobToken": "1"}
