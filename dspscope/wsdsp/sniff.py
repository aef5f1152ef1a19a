"""Which scanned-image format the bytes really are, in the spec's vocabulary.

The file type comes from magic bytes (the ``filetype`` library); TIFF and
JPEG are refined by reading their headers in place (compression, page count,
JFIF or Exif marker), so a declared ``tiff-multi-g4`` can be checked against
the image.  Only small slices are read: a 200 MB TIFF is never copied.
"""

from __future__ import annotations

import struct

import filetype

_TIFF_COMPRESSION = {1: "uncompressed", 2: "g3mh", 3: "g3mh", 4: "g4", 7: "jpeg-tn2"}
_FILETYPE_NAMES = {"png": "png", "pdf": "pdf-a", "jpx": "jpeg2k", "bmp": "dib", "zip": "xps"}
_MAX_IFDS = 10_000


def sniff_format(data: bytes | memoryview) -> str | None:
    """The spec Format the bytes look like, or None when unknown."""
    view = memoryview(data)
    head = bytes(view[:262])
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_format(view)
    if head[:3] == b"\xff\xd8\xff":
        return "exif" if b"Exif\x00" in head[:64] else "jfif"
    if len(head) >= 4 and struct.unpack("<I", head[:4])[0] in (12, 40, 52, 56, 108, 124):
        return "dib"  # a bare BITMAPINFOHEADER: what DSM calls dib
    kind = filetype.guess(head)
    if kind is None:
        return None
    extension = str(kind.extension)
    return _FILETYPE_NAMES.get(extension, extension)


def _tiff_format(view: memoryview) -> str:
    endian = "<" if bytes(view[:2]) == b"II" else ">"
    try:
        (offset,) = struct.unpack(endian + "I", view[4:8])
        pages = 0
        compression = None
        seen: set[int] = set()
        while offset and offset not in seen and pages < _MAX_IFDS:
            seen.add(offset)
            (count,) = struct.unpack(endian + "H", view[offset : offset + 2])
            if pages == 0:
                for i in range(count):
                    entry = view[offset + 2 + 12 * i : offset + 14 + 12 * i]
                    tag, typ = struct.unpack(endian + "HH", entry[:4])
                    if tag == 259:  # Compression
                        fmt = "H" if typ == 3 else "I"
                        compression = struct.unpack(endian + fmt, entry[8 : 8 + struct.calcsize(fmt)])[0]
            pages += 1
            next_at = offset + 2 + 12 * count
            (offset,) = struct.unpack(endian + "I", view[next_at : next_at + 4])
    except (struct.error, ValueError):
        return "tiff"
    kind = _TIFF_COMPRESSION.get(compression or 1)
    if kind is None:
        return "tiff"
    return f"tiff-{'multi' if pages > 1 else 'single'}-{kind}"


def format_matches(declared: str, sniffed: str | None) -> bool:
    """Whether declared and sniffed formats agree; unknown bytes never disagree."""
    if sniffed is None or declared == sniffed:
        return True
    if sniffed == "tiff":
        return declared.startswith("tiff-")
    jpeg = {"jfif", "exif"}
    return declared in jpeg and sniffed in jpeg
