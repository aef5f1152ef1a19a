"""Message bodies, within bounds: the body to decode with its
Content-Encoding undone, never above ``DECODED_LIMIT`` bytes.

mitmproxy's own ``get_content()`` has no bound (a 1 MB gzip bomb becomes
1 GB in the proxy's memory) and hands unknown coding names such as "bz2"
to Python's codecs; every addon, the viewer and replay read bodies through
``body_of`` instead.
"""

from __future__ import annotations

import io
import logging
import zlib

from mitmproxy import http

from dspscope.wsdsp.mtom import content_type_params

logger = logging.getLogger(__name__)

#: Bodies above this size whose Content-Type says they are not XML are not
#: decompressed or parsed (firmware images, web UI assets).
SNIFF_LIMIT = 64 * 1024
#: A Content-Encoding is undone only up to this many bytes: a 1 MB gzip bomb
#: would otherwise become 1 GB in the proxy's memory.  Larger bodies pass
#: untouched but are not decoded.
DECODED_LIMIT = 64 * 1024 * 1024
#: Bodies at least this large are hashed, decoded and written to captures in
#: worker threads, so that a large scan does not stall the proxy's other
#: connections.  Smaller ones are handled on the event loop at once: hashing
#: and writing 1 MB there takes about 1 ms, and handing it to a thread cost
#: more than that on a busy machine (the interpreter lock passing back and
#: forth between the threads), about 1.8 ms of CPU per device request of
#: 1 MB uploads (figure 1 of ``python -m tests.bench``).
OFF_LOOP_BYTES = 4 * 1024 * 1024
_XML_MEDIA = ("application/soap+xml", "text/xml", "application/xml", "multipart/related",
              "application/xop+xml")


def body_of(msg: http.Message) -> bytes | None:
    """The body to decode: ``raw_content`` itself (no copy) unless a
    Content-Encoding must be undone first; None when it is not undone (over
    DECODED_LIMIT, or an encoding other than gzip, deflate and zstd)."""
    raw = msg.raw_content
    if raw is None:
        return None
    coding = msg.headers.get("content-encoding")
    if not coding:
        return raw
    if len(raw) > SNIFF_LIMIT and not looks_xml(msg.headers.get("content-type")):
        return None
    return decompress(raw, coding)


def decompress(raw: bytes, coding: str, limit: int = DECODED_LIMIT) -> bytes | None:
    """``raw`` with its Content-Encoding undone, or None if the result would
    be over ``limit`` bytes, the data is damaged, or the coding is not one we
    undo within bounds (mitmproxy's own decoding has no bound, and hands
    unknown names such as "bz2" to Python's codecs)."""
    coding = coding.strip().lower()
    if coding in ("identity", "none"):
        return raw
    try:
        if coding in ("gzip", "x-gzip", "deflate"):
            return _inflate(raw, coding, limit)
        if coding == "zstd":
            import zstandard

            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)) as reader:
                out = reader.read(limit + 1)
            return out if len(out) <= limit else None
    except Exception as exc:  # noqa: BLE001 - zlib.error, zstandard.ZstdError: damaged data
        logger.debug("cannot undo %s: %r", coding, exc)
    return None


def _inflate(raw: bytes, coding: str, limit: int) -> bytes | None:
    # gzip may hold several members; "deflate" is zlib-wrapped or, from
    # some servers, raw.
    wbits = 16 + zlib.MAX_WBITS if coding != "deflate" else zlib.MAX_WBITS
    if coding == "deflate" and raw[:1] and (raw[0] & 0x0F) != 8:
        wbits = -zlib.MAX_WBITS
    out = bytearray()
    data = raw
    while data:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail or not inflater.eof:
            return None  # too large, or cut short
        data = inflater.unused_data if wbits > 16 + 8 else b""
    return bytes(out)


def looks_xml(content_type: str | None) -> bool:
    if not content_type:
        return True
    media, _ = content_type_params(content_type)
    return media in _XML_MEDIA or media.endswith("+xml")

