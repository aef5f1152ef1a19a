"""What the simulated scanner is: its sources (platen, feeder), formats,
resolutions and colour modes, as WS-Scan scanner elements; and the reading
of a scan ticket against them (ScanFault for what it cannot honour).

Sizes are in thousandths of an inch, as WS-Scan has them; resolutions in
dots per inch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("jfif", "exif", "png", "tiff-single-uncompressed")
RESOLUTIONS = (75, 100, 150, 200, 300, 600)
COLOURS = ("BlackAndWhite1", "Grayscale8", "RGB24")
SOURCES = ("Platen", "ADF", "ADFDuplex")
LETTER = (8500, 11000)
MINIMUM = (250, 250)


class ScanFault(Exception):
    """A request the scanner answers with a WS-Scan fault."""

    def __init__(self, subcode: str, detail: str | None = None) -> None:
        super().__init__(f"{subcode}: {detail or '-'}")
        self.subcode = subcode
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a scan ticket asks for, checked against the model."""

    name: str
    user: str
    format: str
    source: str
    colour: str
    resolution: tuple[int, int]
    region: tuple[int, int, int, int]  # x offset, y offset, width, height
    images_to_transfer: int
    raw: dict[str, Any] = field(hash=False, compare=False, default_factory=dict)

    @property
    def pixels(self) -> tuple[int, int]:
        """Width and height of one page, in pixels."""
        width = max(1, self.region[2] * self.resolution[0] // 1000)
        height = max(1, self.region[3] * self.resolution[1] // 1000)
        return width, height

    @property
    def bytes_per_line(self) -> int:
        width = self.pixels[0]
        return {"BlackAndWhite1": (width + 7) // 8, "Grayscale8": width}.get(self.colour, width * 3)

    def image_information(self) -> dict[str, Any]:
        width, height = self.pixels
        info = {"PixelsPerLine": width, "NumberOfLines": height, "BytesPerLine": self.bytes_per_line}
        out: dict[str, Any] = {"MediaFrontImageInfo": info}
        if self.source == "ADFDuplex":
            out["MediaBackImageInfo"] = dict(info)
        return out


@dataclass(slots=True)
class ScannerModel:
    """The scanner's fixed facts and its feeder's paper."""

    name: str = "dspscope simulated scanner"
    location: str = "loopback"
    sheets: int = 3  # sheets in the feeder per ADF job
    formats: tuple[str, ...] = FORMATS

    def description(self) -> dict[str, Any]:
        return {
            "ScannerName": self.name,
            "ScannerInfo": "WS-Scan simulator of dspscope",
            "ScannerLocation": self.location,
        }

    def configuration(self) -> dict[str, Any]:
        return {
            "DeviceSettings": {
                "FormatsSupported": {"FormatValue": list(self.formats)},
                "CompressionQualityFactorSupported": {"MinValue": 1, "MaxValue": 100},
                "ContentTypesSupported": {"ContentTypeValue": ["Auto", "Text", "Photo"]},
                "DocumentSizeAutoDetectSupported": False,
                "AutoExposureSupported": False,
                "BrightnessSupported": False,
                "ContrastSupported": False,
                "ScalingRangeSupported": {
                    "ScalingWidth": {"MinValue": 100, "MaxValue": 100},
                    "ScalingHeight": {"MinValue": 100, "MaxValue": 100},
                },
                "RotationsSupported": {"RotationValue": [0]},
            },
            "Platen": _source("Platen"),
            "ADF": {
                "ADFSupportsDuplex": True,
                "ADFFront": _source("ADF"),
                "ADFBack": _source("ADF"),
            },
        }

    def status(self, now: dt.datetime, active: int) -> dict[str, Any]:
        return {
            "ScannerCurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ScannerState": "Processing" if active else "Idle",
            "ScannerStateReasons": {"ScannerStateReason": ["None"]},
        }

    def default_ticket(self) -> dict[str, Any]:
        return {
            "JobDescription": {"JobName": "Scan", "JobOriginatingUserName": "dspscope"},
            "DocumentParameters": {
                "Format": self.formats[0],
                "ImagesToTransfer": 1,
                "InputSource": "Platen",
                "ContentType": "Auto",
                "InputSize": {"InputMediaSize": {"Width": LETTER[0], "Height": LETTER[1]}},
                "MediaSides": {"MediaFront": _side("Grayscale8", 300, LETTER)},
            },
        }

    def elements(self, name: str, now: dt.datetime, active: int) -> Any | None:
        """The content of one scanner element, by its local name (None: unknown)."""
        if name == "ScannerDescription":
            return self.description()
        if name == "ScannerConfiguration":
            return self.configuration()
        if name == "ScannerStatus":
            return self.status(now, active)
        if name == "DefaultScanTicket":
            return self.default_ticket()
        return None

    def read_ticket(self, ticket: Any) -> Ticket:
        """The ticket of a CreateScanJob or ValidateScanTicket request."""
        if not isinstance(ticket, dict):
            raise ScanFault("InvalidArgs", "ScanTicket")
        description = _dict(ticket.get("JobDescription"))
        params = _dict(ticket.get("DocumentParameters"))
        fmt = _text(params.get("Format")) or self.formats[0]
        if fmt not in self.formats:
            raise ScanFault("ClientErrorFormatNotSupported", " ".join(self.formats))
        source = _text(params.get("InputSource")) or "Platen"
        if source not in SOURCES:
            raise ScanFault("InvalidArgs", "InputSource")
        front = _dict(_dict(params.get("MediaSides")).get("MediaFront"))
        colour = _text(front.get("ColorProcessing")) or "Grayscale8"
        if colour not in COLOURS:
            raise ScanFault("InvalidArgs", "ColorProcessing")
        resolution = _dict(front.get("Resolution"))
        res = (_int(resolution.get("Width"), 300), _int(resolution.get("Height"), 300))
        if res[0] not in RESOLUTIONS or res[1] not in RESOLUTIONS:
            raise ScanFault("InvalidArgs", "Resolution")
        media = _dict(_dict(params.get("InputSize")).get("InputMediaSize"))
        size = (_int(media.get("Width"), LETTER[0]), _int(media.get("Height"), LETTER[1]))
        region = _dict(front.get("ScanRegion"))
        x = _int(region.get("ScanRegionXOffset"), 0)
        y = _int(region.get("ScanRegionYOffset"), 0)
        width = _int(region.get("ScanRegionWidth"), size[0])
        height = _int(region.get("ScanRegionHeight"), size[1])
        if not (MINIMUM[0] <= width and x + width <= LETTER[0]
                and MINIMUM[1] <= height and y + height <= LETTER[1]):
            raise ScanFault("InvalidArgs", "ScanRegion")
        return Ticket(
            name=_text(description.get("JobName")) or "Scan",
            user=_text(description.get("JobOriginatingUserName")) or "",
            format=fmt, source=source, colour=colour, resolution=res,
            region=(x, y, width, height),
            images_to_transfer=_int(params.get("ImagesToTransfer"), 0), raw=ticket,
        )

    def pages_for(self, ticket: Ticket) -> int:
        """How many images a job of this ticket yields."""
        if ticket.source == "Platen":
            available = 1
        else:
            available = self.sheets * (2 if ticket.source == "ADFDuplex" else 1)
        wanted = ticket.images_to_transfer
        return min(wanted, available) if wanted > 0 else available

    def final_parameters(self, ticket: Ticket) -> dict[str, Any]:
        """DocumentFinalParameters: the ticket as the scanner will honour it."""
        x, y, width, height = ticket.region
        side = _side(ticket.colour, ticket.resolution[0], (width, height), (x, y),
                     ticket.resolution[1])
        sides: dict[str, Any] = {"MediaFront": side}
        if ticket.source == "ADFDuplex":
            sides["MediaBack"] = dict(side)
        return {
            "Format": ticket.format,
            "ImagesToTransfer": ticket.images_to_transfer,
            "InputSource": ticket.source,
            "InputSize": {"InputMediaSize": {"Width": width, "Height": height}},
            "MediaSides": sides,
        }


def _source(prefix: str) -> dict[str, Any]:
    resolutions = {"Widths": {"Width": list(RESOLUTIONS)},
                   "Heights": {"Height": list(RESOLUTIONS)}}
    return {
        f"{prefix}OpticalResolution": {"Width": 600, "Height": 600},
        f"{prefix}Resolutions": resolutions,
        f"{prefix}Color": {"ColorEntry": list(COLOURS)},
        f"{prefix}MinimumSize": {"Width": MINIMUM[0], "Height": MINIMUM[1]},
        f"{prefix}MaximumSize": {"Width": LETTER[0], "Height": LETTER[1]},
    }


def _side(colour: str, res: int, size: tuple[int, int], offset: tuple[int, int] = (0, 0),
          res_height: int | None = None) -> dict[str, Any]:
    return {
        "ColorProcessing": colour,
        "Resolution": {"Width": res, "Height": res_height or res},
        "ScanRegion": {
            "ScanRegionXOffset": offset[0], "ScanRegionYOffset": offset[1],
            "ScanRegionWidth": size[0], "ScanRegionHeight": size[1],
        },
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("#text", "")
    return value.strip() if isinstance(value, str) else "" if value is None else str(value)


def _int(value: Any, default: int) -> int:
    text = _text(value)
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ScanFault("InvalidArgs", text[:80]) from None


__all__ = ["ScanFault", "ScannerModel", "Ticket"]
