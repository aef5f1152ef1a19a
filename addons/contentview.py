"""A "WS-DSP" content view, so stock mitmproxy's console and mitmweb show the
decoded message and its findings.

mitmproxy 12 replaced the content-view API (``Contentview`` objects given to
``contentviews.add``) of mitmproxy 11 (``View`` subclasses, ``add``/``remove``).
``render`` is shared; two thin adapters present it to either.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mitmproxy import contentviews as _contentviews
from mitmproxy import http

from dspscope.addons.metadata import METADATA_KEY
from dspscope.wsdsp import decode

#: The module's API differs between mitmproxy 11 and 12: typed as Any so
#: that one source checks against both.
contentviews: Any = _contentviews

NAME = "WS-DSP"
Line = tuple[str, str]
#: Above mitmproxy's own XML and multipart views.
PRIORITY = 2.0


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _tree(value: Any, indent: int) -> Iterator[Line]:
    pad = "  " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                yield f"{pad}{key}:", ""
                yield from _tree(item, indent + 1)
            else:
                yield f"{pad}{key}: ", _scalar(item if item != {} else "")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping | list) and item:
                yield f"{pad}-", ""
                yield from _tree(item, indent + 1)
            else:
                yield f"{pad}- ", _scalar(item)


def render(msg: Mapping[str, Any]) -> list[Line]:
    """A decoded message (the JSON contract) as (label, value) lines."""
    title = " ".join(str(p) for p in (msg.get("protocol"), msg.get("kind"), msg.get("operation")) if p)
    out: list[Line] = [(f"{NAME}: ", title)]
    for key in ("soap_version", "action", "message_id", "relates_to", "to", "job_token"):
        if msg.get(key):
            out.append((f"{key}: ", _scalar(msg[key])))
    if msg.get("fault"):
        out.append(("fault:", ""))
        out.extend(_tree(msg["fault"], 1))
    if msg.get("fields"):
        out.append(("fields:", ""))
        out.extend(_tree(msg["fields"], 1))
    for att in msg.get("attachments") or []:
        out.append(("attachment: ", f"{att.get('content_id')}  {att.get('content_type')}  "
                    f"{att.get('size')} bytes  format {att.get('format')}  sha256 {att.get('sha256')}"))
    findings = msg.get("findings") or []
    out.append(("findings: ", "none" if not findings else str(len(findings))))
    for f in findings:
        out.append((f"  {f.get('severity')} {f.get('code')}: ", str(f.get("text"))))
    return out


def message_json(data: bytes, flow: Any, message: Any) -> dict[str, Any] | None:
    """The decoded message for ``data``: the flow's saved verdict when there
    is one, else decoded now.  None if it is not SOAP."""
    meta = flow.metadata.get(METADATA_KEY) if flow is not None else None
    if isinstance(meta, dict) and isinstance(message, http.Message):
        side = "request" if isinstance(message, http.Request) else "response"
        saved = meta.get(side)
        if isinstance(saved, dict):
            return saved if saved.get("protocol") != "not-soap" else None
    content_type = message.headers.get("content-type") if isinstance(message, http.Message) else None
    decoded = decode(data, content_type).to_json()
    return decoded if decoded["protocol"] != "not-soap" else None


def priority(data: bytes, content_type: str | None, flow: Any, message: Any) -> float:
    meta = flow.metadata.get(METADATA_KEY) if flow is not None else None
    if isinstance(meta, dict) and isinstance(message, http.Message):
        side = "request" if isinstance(message, http.Request) else "response"
        saved = meta.get(side)
        return PRIORITY if isinstance(saved, dict) and saved.get("protocol") != "not-soap" else 0
    head = data[:4096]
    xmlish = (content_type or "").endswith(("xml", "multipart/related"))
    return PRIORITY if xmlish and b"Envelope" in head else 0


def as_text(lines: list[Line]) -> str:
    return "\n".join(label + value for label, value in lines)


if hasattr(contentviews, "Contentview"):  # mitmproxy >= 12

    class WsDspView(contentviews.Contentview):  # type: ignore[misc]
        name = NAME
        syntax_highlight = "yaml"

        def prettify(self, data: bytes, metadata: Any) -> str:
            msg = message_json(data, metadata.flow, metadata.http_message)
            if msg is None:
                raise ValueError("not a SOAP message")
            return as_text(render(msg))

        def render_priority(self, data: bytes, metadata: Any) -> float:
            return priority(data, metadata.content_type, metadata.flow, metadata.http_message)

    def _install(view: Any) -> None:
        contentviews.add(view)

    def _uninstall(view: Any) -> None:
        """mitmproxy 12 has no removal; the view stays, harmless."""

else:  # mitmproxy 11
    from mitmproxy.contentviews.base import View

    class WsDspView(View):  # type: ignore[no-redef]
        name = NAME

        def __call__(self, data: bytes, *, content_type: str | None = None, flow: Any = None,
                     http_message: Any = None, **unknown: Any) -> Any:
            msg = message_json(data, flow, http_message)
            if msg is None:
                return None
            lines = [[("header", label), ("text", value)] for label, value in render(msg)]
            return NAME, iter(lines)

        def render_priority(self, data: bytes, *, content_type: str | None = None,
                            flow: Any = None, http_message: Any = None, **unknown: Any) -> float:
            return priority(data, content_type, flow, http_message)

    def _install(view: Any) -> None:
        existing = contentviews.get(NAME)
        if existing is not None:
            contentviews.remove(existing)
        contentviews.add(view)

    def _uninstall(view: Any) -> None:
        if view in contentviews.views:
            contentviews.remove(view)


class ContentView:
    """Registers the WS-DSP view while loaded."""

    name = "dspscope_contentview"

    def __init__(self) -> None:
        self.view = WsDspView()

    def load(self, loader: Any) -> None:
        _install(self.view)

    def done(self) -> None:
        _uninstall(self.view)
