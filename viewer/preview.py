"""A scanned page drawn in the terminal with half blocks.

Each character cell shows two pixels: the upper half block ``▀`` in the top
pixel's colour over the bottom pixel's colour as background.  Pillow reads
the image (first page of a multi-page TIFF); JPEGs are decoded at reduced
size with ``draft``.  Anything Pillow cannot read gives a reason instead.
"""

from __future__ import annotations

import io
import struct

from PIL import Image
from rich.color import Color
from rich.style import Style
from rich.text import Text

#: Formats Pillow cannot draw (or that are documents, not pictures).
NO_PREVIEW = ("pdf-a", "xps", "jbig")


def dib_as_bmp(data: bytes) -> bytes:
    """DSM's "dib" is a bitmap without its 14-byte file header: add one."""
    header_size, = struct.unpack_from("<I", data, 0)
    bit_count, = struct.unpack_from("<H", data, 14)
    compression, = struct.unpack_from("<I", data, 16) if header_size >= 20 else (0,)
    colours_used, = struct.unpack_from("<I", data, 32) if header_size >= 36 else (0,)
    palette = colours_used or (1 << bit_count if bit_count <= 8 else 0)
    masks = 12 if header_size == 40 and compression == 3 else 0
    offset = 14 + header_size + masks + 4 * palette
    return b"BM" + struct.pack("<IHHI", 14 + len(data), 0, 0, offset) + data


def load(data: bytes, sniffed: str | None = None) -> tuple[Image.Image, str]:
    """The first page, RGB, and a description (size, pages); raises
    ValueError saying why there is no preview."""
    if sniffed in NO_PREVIEW:
        raise ValueError(f"no preview for {sniffed} documents")
    if sniffed == "dib":
        data = dib_as_bmp(data)
    try:
        image = Image.open(io.BytesIO(data))
        pages = getattr(image, "n_frames", 1)
        about = f"{image.width}×{image.height} px, {image.mode}"
        if pages > 1:
            about += f", {pages} pages (first shown)"
        image.draft("RGB", (320, 320))
        image.seek(0)
        image.load()
        return image.convert("RGB"), about
    except Exception as exc:  # noqa: BLE001 - any unreadable image gives a reason
        raise ValueError(f"no preview: {exc}") from None


def halfblocks(image: Image.Image, columns: int, rows: int) -> Text:
    """The image scaled to fit ``columns`` x ``rows`` cells, aspect kept."""
    columns, rows = max(1, columns), max(1, rows)
    picture = image.copy()
    # Terminal cells are about twice as tall as wide: one cell = 1x2 pixels.
    picture.thumbnail((columns, rows * 2), Image.Resampling.BOX)
    width, height = picture.size
    if height % 2:
        canvas = Image.new("RGB", (width, height + 1), (255, 255, 255))
        canvas.paste(picture, (0, 0))
        picture, height = canvas, height + 1
    pixels = picture.load()
    assert pixels is not None
    text = Text(no_wrap=True, end="")
    styles: dict[tuple[object, object], Style] = {}
    for y in range(0, height, 2):
        for x in range(width):
            top, bottom = pixels[x, y], pixels[x, y + 1]
            style = styles.get((top, bottom))
            if style is None:
                style = styles[(top, bottom)] = Style(
                    color=Color.from_rgb(*top[:3]), bgcolor=Color.from_rgb(*bottom[:3]))  # type: ignore[index]
            text.append("▀", style)
        if y + 2 < height:
            text.append("\n")
    return text

