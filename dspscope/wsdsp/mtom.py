"""multipart/related (MTOM/XOP) bodies: find the root part and the
attachments as byte spans of the original body, without copying them.

Part headers are parsed by the standard library's e-mail header parser; only
the boundary scan is ours, and it uses ``bytes.find`` on the body itself.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from email.message import Message as _EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from urllib.parse import unquote

from .codes import finding
from .messages import Finding

_HEADER_PARSER = BytesHeaderParser(policy=compat32)
_BLANK_LINE = re.compile(rb"\r?\n[ \t]*\r?\n")
_BLANK_AT_START = re.compile(rb"[ \t]*\r?\n")
_DELIMITER_END = re.compile(rb"--|[ \t]*(?:\r?\n|\Z)")
MAX_PARTS = 1000
MAX_HEADER_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    headers: dict[str, str]
    start: int
    end: int

    @property
    def content_id(self) -> str | None:
        cid = self.headers.get("content-id")
        return header_cid(cid) if cid else None

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


@dataclass(slots=True)
class Multipart:
    parts: list[Part] = field(default_factory=list)
    root: Part | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def attachments(self) -> list[Part]:
        """Every part but the root, in order."""
        return [part for part in self.parts if part is not self.root]


def content_type_params(content_type: str) -> tuple[str, dict[str, str]]:
    """(media type in lower case, parameters) of a Content-Type value."""
    media, params = _parsed_content_type(content_type)
    return media, dict(params)


@functools.lru_cache(maxsize=256)
def _parsed_content_type(content_type: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    # The e-mail parser costs more than decoding a small envelope, and a
    # connection sends the same few Content-Types again and again.
    msg = _EmailMessage()
    msg["content-type"] = content_type
    params = msg.get_params() or []
    media = (params[0][0] if params else "").strip().lower()
    out: dict[str, str] = {}
    for key, value in params[1:]:
        out[key.strip().lower()] = str(value).strip().strip('"')
    return media, tuple(out.items())


def normalize_cid(value: str) -> str:
    """A cid: URL (an xop:Include href) in the form of the Content-ID it
    names: no cid:, no <>, URL-unescaped (RFC 2392)."""
    value = value.strip()
    if value[:4].lower() == "cid:":
        value = value[4:]
    return unquote(value.strip().strip("<>").strip())


def header_cid(value: str) -> str:
    """A Content-ID header value (or the start parameter) without its <>.
    Not unescaped: only the URL form is escaped, "a%41" in a header is
    literally that."""
    return value.strip().strip("<>").strip()


def href_matches(href: str, content_id: str) -> bool:
    """Whether an xop:Include href names the part with this Content-ID;
    unescaped hrefs, as some stacks send them, match too."""
    raw = href.strip()
    raw = raw[4:] if raw[:4].lower() == "cid:" else raw
    return content_id in (normalize_cid(href), raw.strip().strip("<>").strip())


def split(body: bytes, content_type: str) -> Multipart:
    """Split a multipart/related body into parts; problems become findings."""
    return _split(body, content_type, until_root=False)


def root_part(body: bytes, content_type: str) -> Part | None:
    """The root (XML) part of a multipart/related body as ``split`` finds it,
    without scanning the parts after it: a megabyte image that follows the
    envelope is not searched for its closing boundary."""
    return _split(body, content_type, until_root=True).root


def xml_span(body: bytes, content_type: str | None) -> tuple[int, int] | None:
    """Where the XML of an HTTP body is: the root part of a multipart/related
    body, all of any other body; None for a multipart body without parts.
    The one place that says which part is the envelope."""
    if not content_type or content_type_params(content_type)[0] != "multipart/related":
        return 0, len(body)
    root = root_part(body, content_type)
    return (root.start, root.end) if root is not None else None


def _split(body: bytes, content_type: str, *, until_root: bool) -> Multipart:
    result = Multipart()
    _, params = content_type_params(content_type)
    start = params.get("start")
    wanted = header_cid(start) if start else None
    boundary = params.get("boundary")
    if not boundary:
        result.findings.append(
            finding("mtom.no-boundary", "multipart body without a boundary parameter")
        )
        return result
    delim = b"--" + boundary.encode("latin-1", "replace")
    pos = _find_delimiter(body, delim, 0)
    if pos < 0:
        result.findings.append(
            finding("mtom.boundary-not-found", f"boundary {boundary!r} not found in body")
        )
        return result
    closed = False
    while len(result.parts) < MAX_PARTS:
        after = pos + len(delim)
        if body[after : after + 2] == b"--":
            closed = True
            break
        line_end = body.find(b"\n", after)
        if line_end < 0:
            break
        header_end, body_start = _end_of_headers(body, line_end + 1)
        if header_end < 0:
            result.findings.append(
                finding("mtom.truncated", "a MIME part's headers are cut off")
            )
            break
        raw_headers = body[line_end + 1 : header_end]
        parsed = _HEADER_PARSER.parsebytes(raw_headers)
        headers = {k.lower(): " ".join(str(v).split()) for k, v in parsed.items()}
        nxt = _find_delimiter(body, delim, body_start)
        if nxt < 0:
            result.parts.append(Part(headers, body_start, len(body)))
            result.findings.append(
                finding("mtom.truncated", "multipart body ends inside a part (no closing boundary)")
            )
            break
        end = nxt
        if end > body_start and body[end - 1 : end] == b"\n":
            end -= 1
            if end > body_start and body[end - 1 : end] == b"\r":
                end -= 1
        part = Part(headers, body_start, end)
        result.parts.append(part)
        if until_root and (wanted is None or part.content_id == wanted):
            result.root = part
            return result
        pos = nxt
    else:
        result.findings.append(
            finding("mtom.too-many-parts", f"more than {MAX_PARTS} MIME parts")
        )
    if not closed and not any(f.code == "mtom.truncated" for f in result.findings):
        result.findings.append(
            finding("mtom.unterminated", "multipart body has no closing boundary")
        )
    if wanted is not None:
        result.root = next((p for p in result.parts if p.content_id == wanted), None)
        if result.root is None:
            result.findings.append(
                finding("mtom.root-not-found", f"no part has the start Content-ID {start!r}; reading the first part as the root")
            )
    if result.root is None and result.parts:
        result.root = result.parts[0]  # RFC 2387: the root unless start says otherwise
    return result


def _find_delimiter(body: bytes, delim: bytes, start: int) -> int:
    """Next delimiter that begins a line (or the body) and ends one (RFC 2046:
    only "--", transport padding and the line break may follow it), so that
    a boundary that is a prefix of another string never matches it."""
    pos = body.find(delim, start)
    while pos >= 0:
        if pos == 0 or body[pos - 1 : pos] == b"\n":
            if _DELIMITER_END.match(body, pos + len(delim)):
                return pos
        pos = body.find(delim, pos + 1)
    return pos


def _end_of_headers(body: bytes, start: int) -> tuple[int, int]:
    """(end of the header block, start of the part body).  The blank line may
    end in LF or CRLF and, as some stacks send it, hold stray spaces."""
    blank = _BLANK_AT_START.match(body, start)
    if blank:  # a part with no headers at all
        return start, blank.end()
    found = _BLANK_LINE.search(body, start, start + MAX_HEADER_BYTES)
    if not found:
        return -1, -1
    return found.start(), found.end()


_LEADING_HEADER = re.compile(rb"(?i)\s*(mime-version|content-type)\s*:")


def split_leading_headers(content: bytes) -> tuple[str | None, bytes]:
    """For a saved message that starts with its MIME headers (as the spec's
    SendImage example does): (Content-Type, body).  Otherwise (None, content)."""
    if not _LEADING_HEADER.match(content[:200]):
        return None, content
    start = len(content) - len(content.lstrip())
    found = _BLANK_LINE.search(content, start, start + MAX_HEADER_BYTES)
    if not found:
        return None, content
    headers = _HEADER_PARSER.parsebytes(content[start : found.start()])
    content_type = headers.get("content-type")
    return (" ".join(str(content_type).split()) if content_type else None), content[found.end() :]
