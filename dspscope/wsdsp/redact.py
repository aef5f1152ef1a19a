"""Personal data out of captured messages, for captures that are shared.

Captures hold user SIDs, user names, e-mail addresses, UNC paths,
SharePoint sites and scanned pages.  A ``Redactor`` replaces each such value
with a placeholder of the same kind (a SID stays SID-shaped, an address an
address), the same value with the same placeholder everywhere, so jobs and
users can still be told apart and followed.  Scanned images become blanks
of the same size.

Bodies are rebuilt through ``decode`` and ``encode``, so an MTOM package
stays valid (its references, its parts).  A body that does not parse as an
envelope is scrubbed as text instead: the values learned from the rest of
the capture, then anything shaped like a SID, an e-mail address or a UNC
path; its MIME parts, or the whole body when it is an image, are blanked.

Use one Redactor for a whole capture: ``learn`` (or ``learn_body``) from
every message first, then ``body``, ``data`` and ``text``, so that a value
seen only late in the capture is replaced wherever it appears.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from html import escape as _escape_html
from html import unescape
from typing import Any, Literal

from . import mtom
from .codec import decode
from .encode import AttachmentData, encode
from .errors import ProtocolError
from .messages import Fault, Message
from .sniff import sniff_format
from .values import is_sid


def escape(text: str) -> str:
    """``text`` as XML character data (& < > escaped; quotes kept).

    Not xml.sax.saxutils: it imports urllib.request and, through it, ssl."""
    return _escape_html(text, quote=False)

Category = Literal["sid", "user", "email", "unc", "sharepoint"]

#: Elements whose whole text is personal, by local name.
FIELDS: Mapping[str, Category] = {
    "UserIdentifier": "sid",
    "JobOriginatingUserName": "user",
    "EmailAddress": "email",
    "ShareUNC": "unc",
    "SaveToSharePointSiteURL": "sharepoint",
}

#: What personal data looks like inside free text.
_SHAPES: tuple[tuple[Category, re.Pattern[str]], ...] = (
    ("sid", re.compile(r"\bS-1-\d+(?:-\d+)+\b", re.IGNORECASE)),
    ("email", re.compile(r"[\w.%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("unc", re.compile(r"\\\\[\w.$-]+\\[^\s<>\"'|?*]*")),
)
_ELEMENT_TEXT = re.compile(
    r"(<(?:[\w.-]+:)?(" + "|".join(FIELDS) + r")\b[^>]*>)([^<]*)(<)")
#: Formats sniffing recognises as scanned pages.
_IMAGES = frozenset({"png", "jfif", "exif", "dib", "jpeg2k", "pdf-a", "xps", "tif", "gif", "jxr",
                     "webp", "jpg"})
_BLANK_CHUNK = bytes(1 << 20)


@dataclass(frozen=True, slots=True)
class Redacted:
    """A redacted body and the Content-Type to send it with."""

    content: bytes
    content_type: str | None


def blank(size: int) -> bytes:
    """The stand-in for ``size`` bytes of a scanned page."""
    return bytes(size)


def blank_digest(size: int) -> str:
    """SHA-256 of ``blank(size)``, without building it."""
    digest = hashlib.sha256()
    for start in range(0, size, len(_BLANK_CHUNK)):
        digest.update(_BLANK_CHUNK[: min(len(_BLANK_CHUNK), size - start)])
    return digest.hexdigest()


def _placeholder(category: Category, value: str, n: int) -> str:
    """A placeholder of the value's own shape, so that redaction neither adds
    nor hides findings about the shape."""
    if category == "sid":
        return f"S-1-5-21-0-0-0-{1000 + n}" if is_sid(value) else f"user-id-{n}"
    if category == "user":
        return f"DOMAIN\\user{n}" if "\\" in value else f"user{n}"
    if category == "email":
        return f"user{n}@example.invalid" if "@" in value else f"address{n}"
    if category == "unc":
        return f"\\\\server{n}\\share{n}" if value.startswith("\\\\") else f"path{n}"
    if value[:8].lower().startswith(("http://", "https://")):
        return f"https://sharepoint{n}.example.invalid/sites/site{n}"
    return f"site{n}"


class Redactor:
    """Consistent placeholders for the personal values of one capture."""

    def __init__(self) -> None:
        self._table: dict[str, str] = {}
        self._placeholders: set[str] = set()
        self._counts: Counter[str] = Counter()
        self._known: re.Pattern[str] | None = None

    # ------------------------------------------------------------- values

    def placeholder(self, value: str, category: Category) -> str:
        """The placeholder for ``value`` (made on first use)."""
        key = value.strip().casefold()
        if not key or key in self._placeholders:
            return value
        found = self._table.get(key)
        if found is None:
            self._counts[category] += 1
            found = _placeholder(category, value.strip(), self._counts[category])
            self._table[key] = found
            self._placeholders.add(found.casefold())
            escaped = escape(value.strip())
            if escaped != value.strip():  # as it appears inside raw XML
                self._table[escaped.casefold()] = escape(found)
            self._known = None
        return found

    @property
    def values(self) -> int:
        """How many personal values are known."""
        return len(self._placeholders)

    def learn(self, data: Any, category: Category | None = None) -> None:
        """Note the personal values in decoded fields or a JSON record."""
        self._walk(data, category, learning=True)

    def learn_body(self, content: bytes, content_type: str | None) -> None:
        message = decode(content, content_type, hash_attachments=False)
        self.learn(message.fields)
        self.learn(message.headers)
        if message.soap_version is None:
            self._raw(content, content_type)  # notes what it would replace

    # --------------------------------------------------------- replacing

    def text(self, text: str) -> str:
        """Free text with every known value and anything personal-looking
        replaced."""
        return self._scrub(text, learning=False)

    def data(self, data: Any, category: Category | None = None) -> Any:
        """A redacted copy of decoded fields or a JSON record: values of the
        personal elements by name, everything else as free text; the digest
        of an attachment becomes the digest of its blank."""
        return self._walk(data, category, learning=False)

    def message(self, message: Message) -> Message:
        """The message with its personal values replaced (for ``encode``)."""
        fault = message.fault
        if fault is not None:
            fault = Fault(code=fault.code, subcode=fault.subcode, reason=self._maybe(fault.reason),
                          detail=self._maybe(fault.detail), subcode_namespace=fault.subcode_namespace)
        return replace(
            message, fields=self.data(message.fields), headers=self.data(message.headers),
            to=self._maybe(message.to), reply_to=self._maybe(message.reply_to), fault=fault,
        )

    def body(self, content: bytes, content_type: str | None) -> Redacted:
        """An HTTP body with personal data replaced and images blanked."""
        message = decode(content, content_type, hash_attachments=False)
        if message.soap_version is not None:
            attachments = tuple(
                AttachmentData(self.text(a.content_id), blank(a.size),
                               a.content_type or "application/octet-stream")
                for a in message.attachments)
            try:
                encoded = encode(self.message(message), attachments)
            except (ProtocolError, ValueError, TypeError):
                pass  # not rebuildable: scrub it as text below
            else:
                return Redacted(encoded.content, encoded.content_type)
        return Redacted(self._raw(content, content_type), content_type)

    # ---------------------------------------------------------- internals

    def _maybe(self, text: str | None) -> str | None:
        return self.text(text) if text is not None else None

    def _walk(self, data: Any, category: Category | None, *, learning: bool) -> Any:
        if isinstance(data, Mapping):
            out = {key: self._walk(value, FIELDS.get(key, category if key == "#text" else None),
                                   learning=learning)
                   for key, value in data.items()}
            if not learning and isinstance(out.get("size"), int) and isinstance(out.get("sha256"), str) \
                    and "content_id" in out and out["sha256"]:
                out["sha256"] = blank_digest(out["size"])
            return out
        if isinstance(data, list | tuple):
            return [self._walk(item, category, learning=learning) for item in data]
        if isinstance(data, str):
            if category is not None and data.strip():
                return self.placeholder(data, category)
            return self._scrub(data, learning=learning)
        return data

    def _scrub(self, text: str, *, learning: bool) -> str:
        if not learning:
            text = self._known_pattern().sub(self._known_match, text) if self._table else text
        for category, shape in _SHAPES:
            text = shape.sub(self._shape_match(category), text)
        return text

    def _known_pattern(self) -> re.Pattern[str]:
        if self._known is None:
            keys = sorted(self._table, key=len, reverse=True)
            self._known = re.compile("|".join(re.escape(k) for k in keys), re.IGNORECASE)
        return self._known

    def _known_match(self, match: re.Match[str]) -> str:
        return self._table.get(match.group(0).casefold(), match.group(0))

    def _shape_match(self, category: Category) -> Callable[[re.Match[str]], str]:
        def replace_one(match: re.Match[str]) -> str:
            return self.placeholder(match.group(0), category)

        return replace_one

    def _raw(self, content: bytes, content_type: str | None) -> bytes:
        """A body that is no envelope: parts and images blanked, text scrubbed."""
        media = mtom.content_type_params(content_type)[0] if content_type else ""
        if media.startswith("image/") or sniff_format(content) in _IMAGES:
            return blank(len(content))
        data = bytearray(content)
        if media == "multipart/related":
            parts = mtom.split(content, content_type or "")
            for part in parts.attachments:
                data[part.start : part.end] = blank(part.end - part.start)
        codec = _text_codec(content)
        text = bytes(data).decode(codec, "surrogateescape" if codec == "utf-8" else "replace")
        text = _ELEMENT_TEXT.sub(self._element_match, text)
        return self.text(text).encode(codec, "surrogateescape" if codec == "utf-8" else "replace")

    def _element_match(self, match: re.Match[str]) -> str:
        value = unescape(match.group(3))
        if not value.strip():
            return match.group(0)
        return match.group(1) + escape(self.placeholder(value, FIELDS[match.group(2)])) + match.group(4)


def _text_codec(content: bytes) -> str:
    if content[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        return "utf-32"
    if content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    return "utf-8"
