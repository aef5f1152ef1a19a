"""What the detail tabs show, as Rich renderables built from a flow and its
record.  Pure (no Textual): every captured string passes ``viewer.safe``;
XML and diffs are highlighted with ``rich.syntax.Syntax``, which never
interprets markup."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mitmproxy import http
from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from dspscope.addons.bodies import body_of as decoded_body
from dspscope.viewer import format as fmt
from dspscope.viewer.safe import literal
from dspscope.viewer.xmltext import pretty, unified_diff
from dspscope.wsdsp import mtom

HIGHLIGHT_LIMIT = 200 * 1024
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def code(text: str, lexer: str, *, dark: bool) -> RenderableType:
    """Highlighted text (already printable); plain when too large to colour."""
    if len(text) > HIGHLIGHT_LIMIT:
        return literal(text, multiline=True)
    return Syntax(text, lexer, theme="monokai" if dark else "default",
                  background_color="default", word_wrap=False)


def body_of(message: http.Message | None) -> bytes:
    """The body with its Content-Encoding undone, within the proxy's bound
    (a gzip bomb in a capture must not freeze the viewer and fill memory);
    the bytes as captured when it is not undone."""
    if message is None:
        return b""
    body = decoded_body(message)
    return (body if body is not None else message.raw_content) or b""


def xml_view(flow: http.HTTPFlow, *, dark: bool) -> RenderableType:
    parts: list[RenderableType] = []
    for title, message in (("request", flow.request), ("response", flow.response)):
        parts.append(Text(f"── {title} ", style="bold"))
        body = body_of(message)
        if message is None:
            parts.append(Text("(no response)", style="dim"))
        elif not body:
            parts.append(Text("(empty body)", style="dim"))
        else:
            parts.append(code(pretty(body, message.headers.get("content-type")), "xml", dark=dark))
    return Group(*parts)


def headers_view(flow: http.HTTPFlow) -> Text:
    out = Text(end="")
    request = flow.request
    out.append("── request\n", style="bold")
    out.append_text(literal(f"{request.method} {request.pretty_url} {request.http_version}"))
    out.append("\n")
    _headers(out, request.headers)
    out.append("\n── response\n", style="bold")
    if flow.response is None:
        out.append("(no response)", style="dim")
        if flow.error is not None:
            out.append("\n")
            out.append_text(literal(f"error: {flow.error.msg}", style="red"))
    else:
        response = flow.response
        out.append_text(literal(f"{response.http_version} {response.status_code} {response.reason}"))
        out.append("\n")
        _headers(out, response.headers)
    return out


def _headers(out: Text, headers: Any) -> None:
    for name, value in headers.items(multi=True):
        out.append_text(literal(name, style="bold", limit=200))
        out.append(": ")
        out.append_text(literal(value, limit=4000))
        out.append("\n")


def findings_view(record: Mapping[str, Any]) -> Text:
    findings = record.get("findings") or []
    out = Text(end="")
    if record.get("error"):
        out.append("error  ", style="bold red")
        out.append_text(literal(str(record["error"]), limit=4000))
        out.append("\n\n")
    if not findings:
        out.append("No findings.", style="dim")
        return out
    for finding in findings:
        if not isinstance(finding, Mapping):
            continue
        severity = str(finding.get("severity", ""))
        out.append(f"{severity:<8}", style=SEVERITY_STYLE.get(severity, ""))
        out.append_text(literal(str(finding.get("code", "")), style="bold", limit=200))
        out.append("\n        ")
        out.append_text(literal(str(finding.get("text", "")), limit=4000))
        if finding.get("ref"):
            out.append("\n        see ", style="dim")
            out.append_text(literal(str(finding["ref"]), style="dim underline", limit=400))
        out.append("\n")
    return out


def diff_view(flow: http.HTTPFlow, original: Mapping[str, Any] | None, *,
              dark: bool) -> RenderableType:
    """Original (as the peer sent it) vs what was forwarded, per side."""
    if not isinstance(original, Mapping) or not original:
        return Text("No rule rewrote this exchange.", style="dim")
    parts: list[RenderableType] = []
    for side, message in (("request", flow.request), ("response", flow.response)):
        before = original.get(side)
        if not isinstance(before, bytes | str) or message is None:
            continue
        content_type = message.headers.get("content-type")
        old = pretty(before.encode() if isinstance(before, str) else before, content_type)
        new = pretty(body_of(message), content_type)
        diff = unified_diff(old, new, f"{side} (original)", f"{side} (forwarded)")
        parts.append(Text(f"── {side}", style="bold"))
        parts.append(code(diff, "diff", dark=dark) if diff else Text("(unchanged)", style="dim"))
    return Group(*parts) if parts else Text("No rule rewrote this exchange.", style="dim")


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    side: str
    content_id: str
    content_type: str
    size: int
    sha256: str
    sniffed: str | None
    declared: str | None
    start: int
    end: int


def attachments_of(flow: http.HTTPFlow, record: Mapping[str, Any]) -> Iterator[AttachmentInfo]:
    """The MTOM attachments of both sides, with where their bytes are."""
    for side, message in (("request", flow.request), ("response", flow.response)):
        decoded = record.get(side) or {}
        listed = decoded.get("attachments") or []
        if message is None or not listed:
            continue
        declared = _declared_format(decoded)
        body = body_of(message)
        parts = mtom.split(body, message.headers.get("content-type") or "").parts
        spans = {p.content_id: (p.start, p.end) for p in parts if p.content_id}
        for item in listed:
            cid = str(item.get("content_id") or "")
            start, end = spans.get(mtom.normalize_cid(cid), (0, 0))
            yield AttachmentInfo(side, cid, str(item.get("content_type") or ""),
                                 int(item.get("size") or 0), str(item.get("sha256") or ""),
                                 item.get("format"), declared, start, end)


def attachment_bytes(flow: http.HTTPFlow, info: AttachmentInfo) -> bytes:
    message = flow.request if info.side == "request" else flow.response
    return body_of(message)[info.start:info.end]


def _declared_format(decoded: Mapping[str, Any]) -> str | None:
    for body in (decoded.get("fields") or {}).values():
        if isinstance(body, Mapping):
            description = body.get("DocumentDescription")
            if isinstance(description, Mapping) and isinstance(description.get("Format"), str):
                return str(description["Format"])
    return None


def attachment_summary(info: AttachmentInfo) -> Text:
    out = Text(end="")
    out.append_text(literal(info.content_id or "(no Content-ID)", style="bold", limit=200))
    out.append(f"  {info.side}  {fmt.size(info.size)}\n")
    out.append("  type     ")
    out.append_text(literal(info.content_type, limit=200))
    out.append("\n  declared ")
    out.append_text(literal(info.declared or "—", limit=100))
    out.append("   sniffed ")
    out.append_text(literal(info.sniffed or "unknown", limit=100))
    if info.declared and info.sniffed and info.declared != info.sniffed:
        from dspscope.wsdsp.sniff import format_matches

        if not format_matches(info.declared, info.sniffed):
            out.append("   ≠ mismatch", style="bold red")
    out.append("\n  sha256   ")
    out.append_text(literal(info.sha256, limit=100))
    return out
