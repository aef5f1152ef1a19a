"""Work that must stay bounded whatever a peer sends: undoing a
Content-Encoding (a compression bomb) and decoding an element with very
many attributes.  Pure functions, no proxy."""

from __future__ import annotations

import gzip
import time
import zlib

import pytest
import zstandard

from dspscope.addons.bodies import DECODED_LIMIT, decompress
from dspscope.wsdsp import decode
from tests.reliability.corpus import in_slot

XML = in_slot(b"1ba72b60-c873-4d9d-b523-66616fe03ea9")


@pytest.mark.parametrize(("coding", "packed"), [
    ("gzip", gzip.compress(XML)),
    ("x-gzip", gzip.compress(XML)),
    ("GZIP ", gzip.compress(XML)),
    ("deflate", zlib.compress(XML)),
    ("deflate", zlib.compress(XML)[2:-4]),  # raw deflate, as some servers send it
    ("zstd", zstandard.ZstdCompressor().compress(XML)),
    ("identity", XML),
], ids=["gzip", "x-gzip", "gzip-spaced", "zlib", "raw-deflate", "zstd", "identity"])
def test_encodings_are_undone(coding: str, packed: bytes) -> None:
    assert decompress(packed, coding) == XML


def test_gzip_members_are_joined() -> None:
    assert decompress(gzip.compress(XML[:100]) + gzip.compress(XML[100:]), "gzip") == XML


@pytest.mark.parametrize("coding", ["gzip", "deflate", "zstd"])
def test_bombs_stop_at_the_limit(coding: str) -> None:
    zeros = b"\0" * (8 << 20)
    packed = {"gzip": gzip.compress, "deflate": zlib.compress,
              "zstd": zstandard.ZstdCompressor().compress}[coding](zeros)
    assert decompress(packed, coding, limit=len(zeros)) == zeros
    assert decompress(packed, coding, limit=len(zeros) - 1) is None
    assert DECODED_LIMIT < 1 << 30


@pytest.mark.parametrize(("coding", "packed"), [
    ("gzip", b"not gzip"), ("gzip", gzip.compress(XML)[:-9]), ("gzip", gzip.compress(XML) + b"junk"),
    ("bz2", b"BZh91AY&SY"), ("rot13", b"abc"), ("br", b"\x0b\x02\x80abc\x03"), ("gzip, gzip", b""),
], ids=["not-gzip", "gzip-cut-short", "gzip-trailing-junk", "bz2", "rot13", "br", "two-codings"])
def test_damaged_or_unknown_encodings_are_not_undone(coding: str, packed: bytes) -> None:
    assert decompress(packed, coding) is None


def _decode_seconds(attributes: int) -> float:
    body = in_slot(b"<a " + b" ".join(b'a%d="1"' % i for i in range(attributes)) + b"/>")
    began = time.perf_counter()
    decode(body)
    return time.perf_counter() - began


def test_decoding_many_attributes_is_linear() -> None:
    """lxml's items() is quadratic in the number of attributes (50,000 of
    them took 19 s of the proxy's event loop); decode reads them linearly."""
    _decode_seconds(100)  # warm up
    small, large = _decode_seconds(1_000), _decode_seconds(10_000)
    # Ten times the attributes: about ten times the work, not a hundred.
    assert large < 30 * small, (small, large)
