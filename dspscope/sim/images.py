"""Real, valid scanned pages of a requested format and about a requested size.

A page is text-like (lines of word-sized blocks) over speckle or noise; how
much noise, the colour mode and the page area are chosen so the encoded
file lands near the target size.  Generated files are cached per
(format, size, seed): twenty jobs of five images encode one page.
"""

from __future__ import annotations

import functools
import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

#: Spec Format -> file name extension.
EXTENSIONS: dict[str, str] = {
    "png": "png", "jfif": "jpg", "exif": "jpg", "jpeg2k": "jp2", "dib": "dib", "pdf-a": "pdf",
    "jbig": "jbg", "xps": "xps",
    **{f"tiff-{pages}-{kind}": "tif" for pages in ("single", "multi")
       for kind in ("uncompressed", "g4", "g3mh", "jpeg-tn2")},
}  # fmt: skip

_MAX_AREA = 40_000_000  # about a letter page at 600 dpi
_MIN_SIDE = 32
_SAMPLE = (240, 310)


@dataclass(frozen=True, slots=True)
class _Style:
    """How a page looks: bilevel or not, how much noise, which colour mode."""

    bilevel: bool
    noise: int  # 0..255: bilevel speckle threshold, or grey noise amplitude
    mode: str = "L"


_BILEVEL_STYLES = (_Style(True, 6), _Style(True, 40), _Style(True, 128))
_GREY_STYLES = (_Style(False, 95), _Style(False, 255), _Style(False, 255, "RGB"))


def _save(fmt: str, pages: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    first = pages[0]
    multi = {"save_all": True, "append_images": pages[1:]} if len(pages) > 1 else {}
    if fmt == "png":
        first.save(out, "PNG")
    elif fmt == "jfif":
        first.save(out, "JPEG", quality=85)
    elif fmt == "exif":
        exif = Image.Exif()
        exif[0x0131] = "dspscope simulated scanner"  # Software
        first.save(out, "JPEG", quality=85, exif=exif)
    elif fmt == "jpeg2k":
        first.save(out, "JPEG2000")
    elif fmt == "dib":
        first.save(out, "BMP")
        return out.getvalue()[14:]  # DSM's dib: the bitmap without its file header
    elif fmt == "pdf-a":
        first.save(out, "PDF", title="dspscope scan", **multi)
    elif fmt.startswith("tiff-"):
        kind = fmt.split("-", 2)[2]
        compression = {"uncompressed": "raw", "g4": "group4", "g3mh": "group3", "jpeg-tn2": "jpeg"}[
            kind
        ]
        first.save(out, "TIFF", compression=compression, **multi)
    else:
        raise ValueError(f"cannot generate {fmt!r} images")
    return out.getvalue()


def _bilevel(fmt: str) -> bool:
    return fmt.endswith(("-g4", "-g3mh"))


def _page_count(fmt: str) -> int:
    return 3 if fmt.startswith("tiff-multi-") else 1


def _page(width: int, height: int, style: _Style, rng: random.Random) -> Image.Image:
    noise = Image.frombytes("L", (width, height), rng.randbytes(width * height))
    if style.bilevel:
        threshold = style.noise
        page = noise.point(lambda v: 0 if v < threshold else 255)
    else:
        low = 255 - style.noise
        page = noise.point(lambda v: low + v * style.noise // 255)
        if style.mode == "RGB":
            tint = Image.frombytes("L", (width, height), rng.randbytes(width * height))
            page = Image.merge("RGB", (page, tint, page))
    _text_lines(ImageDraw.Draw(page), width, height, rng)
    return page.convert("1") if style.bilevel else page


def _text_lines(draw: ImageDraw.ImageDraw, width: int, height: int, rng: random.Random) -> None:
    line = max(4, height // 60)
    margin = width // 12
    y = line * 2
    while y < height - line * 2:
        x = margin
        while x < width - margin:
            word = rng.randint(line, line * 5)
            draw.rectangle((x, y, min(x + word, width - margin), y + line * 2 // 3), fill=0)
            x += word + line // 2
        y += line * 3 // 2


def _render(fmt: str, area: float, style: _Style, seed: int) -> bytes:
    rng = random.Random(seed)
    pages = _page_count(fmt)
    per_page = max(area / pages, _MIN_SIDE * _MIN_SIDE)
    width = max(_MIN_SIDE, int((per_page / 1.294) ** 0.5))  # letter aspect ratio
    height = max(_MIN_SIDE, int(width * 1.294))
    return _save(fmt, [_page(width, height, style, rng) for _ in range(pages)])


def _bytes_per_pixel(fmt: str, style: _Style, seed: int) -> float:
    area = _SAMPLE[0] * _SAMPLE[1] * _page_count(fmt)
    return len(_render(fmt, area, style, seed)) / area


@functools.lru_cache(maxsize=32)
def generate(fmt: str, size: int, seed: int = 0) -> bytes:
    """A valid ``fmt`` file of about ``size`` bytes (never much over the
    largest page this makes: about a letter page at 600 dpi)."""
    if fmt not in EXTENSIONS or fmt in ("jbig", "xps"):
        raise ValueError(f"cannot generate {fmt!r} images; choose one of {', '.join(supported())}")
    styles = _BILEVEL_STYLES if _bilevel(fmt) else _GREY_STYLES
    style, rate = styles[-1], 1.0
    for candidate in styles:
        style, rate = candidate, _bytes_per_pixel(fmt, candidate, seed)
        if size / rate <= _MAX_AREA:
            break
    area = min(size / rate, _MAX_AREA)
    data = _render(fmt, area, style, seed)
    for _ in range(2):  # compression is not linear in area: correct twice at most
        if abs(len(data) - size) <= size * 0.1 or area >= _MAX_AREA:
            break
        area = min(area * size / max(len(data), 1), _MAX_AREA)
        data = _render(fmt, area, style, seed)
    return data


def supported() -> list[str]:
    """Formats ``generate`` makes (all of the spec's but jbig and xps)."""
    return sorted(f for f in EXTENSIONS if f not in ("jbig", "xps"))


#: WS-Scan ColorProcessing -> how a page of it looks.
_COLOUR_STYLES = {
    "BlackAndWhite1": _Style(True, 6),
    "Grayscale8": _Style(False, 95),
    "RGB24": _Style(False, 95, "RGB"),
}


@functools.lru_cache(maxsize=16)
def page_of_size(fmt: str, width: int, height: int, colour: str = "Grayscale8",
                 seed: int = 0) -> bytes:
    """A valid ``fmt`` file of one page of exactly ``width`` x ``height``
    pixels in the WS-Scan colour mode ``colour`` (what a scanner returns for a
    scan region at a resolution)."""
    if fmt not in ("png", "jfif", "exif", "tiff-single-uncompressed", "tiff-single-g4"):
        raise ValueError(f"cannot generate {fmt!r} pages of a given size")
    style = _COLOUR_STYLES.get(colour)
    if style is None:
        raise ValueError(f"cannot generate {colour!r} pages")
    if width < 1 or height < 1 or width * height > _MAX_AREA * 4:
        raise ValueError(f"a page of {width} x {height} pixels is out of range")
    page = _page(width, height, style, random.Random(seed))
    if page.mode == "1" and fmt in ("jfif", "exif"):
        page = page.convert("L")  # JPEG has no bilevel mode
    elif page.mode != "1" and fmt == "tiff-single-g4":
        page = page.convert("1")
    return _save(fmt, [page])
