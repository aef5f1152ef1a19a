"""Keep the device on the proxy in reverse mode.

The scan server advertises its own addresses: the XAddrs of ProbeMatches,
the Hosted service endpoint in its DPWS metadata, the SubscriptionManager of
a SubscribeResponse.  A device that follows them would talk to the server
directly after discovery and leave the proxy.  This addon rewrites those
addresses to the proxy's own (as the device reached it), remembers the pair,
and maps the proxy address back to the server's in the ``wsa:To`` of the
requests that come in, so the server sees the addresses it handed out.

Only the address text changes: the body is otherwise left byte for byte as
the server sent it (no re-serialisation).

Reverse mode only.  In transparent and regular modes the device sends all
its traffic through the proxy to the server's own addresses, so they are
right as they are; there only the events listener needs the proxy's address
(see ``events``).
"""

from __future__ import annotations

import functools
import logging
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape

from mitmproxy import ctx, exceptions, http
from mitmproxy.proxy.mode_specs import ReverseMode

from dspscope.addons import bodies, decoded, metadata
from dspscope.wsdsp.mtom import xml_span

logger = logging.getLogger(__name__)

_ADVERTISING = frozenset({"ws-discovery", "ws-transfer", "ws-eventing"})
MAX_REMEMBERED = 4096


def substitute(body: bytes, replacements: Mapping[str, str],
               content_type: str | None = None) -> bytes | None:
    """``body`` with each whole address text ``old`` replaced by ``new``, or
    None when nothing changed (or the body is not in an ASCII-compatible
    encoding).  An address matches only as a whole element text or list
    item: between ``>``/whitespace and ``<``/whitespace.

    In a multipart/related (MTOM) body only the XML root part is searched:
    the attachments are images, never to be altered, and scanning a
    megabyte of image with the pattern cost ~60 ms per SendImage."""
    found = substitute_moving(body, replacements, content_type)
    return found[0] if found is not None else None


def substitute_moving(body: bytes, replacements: Mapping[str, str],
                      content_type: str | None = None) -> tuple[bytes, int, int] | None:
    """``substitute``, and where the rest of the body moved: (new body, end
    of the changed region in the old body, how many bytes what follows it
    moved)."""
    span = xml_span(body, content_type)
    if span is None:
        return None
    if span != (0, len(body)):
        start, end = span
        changed = substitute(body[start:end], replacements)
        if changed is None:
            return None
        whole = memoryview(body)
        return b"".join((whole[:start], changed, whole[end:])), end, len(changed) - (end - start)
    if not replacements or body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
        return None
    pattern, table = _compiled(tuple(replacements.items()))
    result, count = pattern.subn(lambda m: table[m.group(1)], body)
    return (result, len(body), len(result) - len(body)) if count else None


@functools.lru_cache(maxsize=256)
def _compiled(replacements: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[bytes], dict[bytes, bytes]]:
    """The pattern and table of ``substitute``, made once per set of
    addresses (every event of a subscription, every upload of a device
    rewrites the same ones)."""
    table = {escape(old).encode(): escape(new).encode() for old, new in replacements}
    alternatives = b"|".join(re.escape(old) for old in sorted(table, key=len, reverse=True))
    return re.compile(rb"(?<=[>\s])(" + alternatives + rb")(?=[<\s])"), table


def is_url(text: object) -> bool:
    return isinstance(text, str) and text[:8].lower().startswith(("http://", "https://"))


def advertised(fields: Any) -> Iterator[str]:
    """Every http(s) address in ``XAddrs`` lists and ``Address`` elements."""
    if isinstance(fields, Mapping):
        for key, value in fields.items():
            if key == "XAddrs" and isinstance(value, str):
                yield from (u for u in value.split() if is_url(u))
            elif key == "Address" and is_url(value):
                yield value
            else:
                yield from advertised(value)
    elif isinstance(fields, list):
        for item in fields:
            yield from advertised(item)


def proxy_origin(flow: http.HTTPFlow, override: str | None = None) -> tuple[str, str]:
    """(scheme, host:port) under which the device reached the proxy."""
    if override:
        parts = urlsplit(override if "://" in override else "http://" + override)
        return parts.scheme, parts.netloc
    client = flow.client_conn
    scheme = "https" if client.tls_established else "http"
    host, port = (client.sockname or ("127.0.0.1", 0))[:2]
    host = client.sni or str(host)
    if ":" in host:
        host = f"[{host}]"
    return scheme, f"{host}:{port}"


def origin_key(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, default ports filled in, for comparing."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def with_origin(url: str, scheme: str, netloc: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


def reverse_mode(flow: http.HTTPFlow) -> ReverseMode | None:
    mode = flow.client_conn.proxy_mode
    return mode if isinstance(mode, ReverseMode) else None


class Addresses:
    """Rewrites advertised server addresses to the proxy's (reverse mode)."""

    name = "dspscope_addresses"

    def __init__(self) -> None:
        self.back: OrderedDict[str, str] = OrderedDict()
        self.rewritten = 0
        self.errors = 0

    def load(self, loader: Any) -> None:
        loader.add_option(
            "dspscope_rewrite_addresses", bool, True,
            "In reverse mode, rewrite the addresses the server advertises (XAddrs, Hosted, "
            "SubscriptionManager) to the proxy's own, so devices keep using the proxy.",
        )
        loader.add_option(
            "dspscope_advertise", str | None, None,
            "The proxy address to advertise to devices, e.g. https://proxy.example:5362 "
            "(default: the address each device connected to).",
        )

    def configure(self, updated: set[str]) -> None:
        if "dspscope_advertise" in updated and ctx.options.dspscope_advertise:
            parts = urlsplit(ctx.options.dspscope_advertise)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise exceptions.OptionsError(
                    f"dspscope_advertise must be http(s)://HOST:PORT, not "
                    f"{ctx.options.dspscope_advertise!r}")

    def _active(self, flow: http.HTTPFlow) -> ReverseMode | None:
        if not ctx.options.dspscope_rewrite_addresses or decoded.state_of(flow).relayed_to:
            return None
        return reverse_mode(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or not self._active(flow):
            return
        try:
            self._advertise_proxy(flow, flow.response)
        except Exception as exc:  # noqa: BLE001 - fail open
            self.errors += 1
            decoded.report_error(flow, "address rewrite", exc)

    def request(self, flow: http.HTTPFlow) -> None:
        mode = self._active(flow)
        if mode is None or flow.response is not None:
            return
        try:
            self._map_back(flow, mode)
        except Exception as exc:  # noqa: BLE001 - fail open
            self.errors += 1
            decoded.report_error(flow, "address map-back", exc)

    def _advertise_proxy(self, flow: http.HTTPFlow, response: http.Response) -> None:
        msg = decoded.message(flow, "response")
        if msg.protocol not in _ADVERTISING or msg.kind != "response":
            return
        scheme, netloc = proxy_origin(flow, ctx.options.dspscope_advertise)
        mapping = {}
        for url in advertised(msg.fields):
            ours = with_origin(url, scheme, netloc)
            if ours != url:
                mapping[url] = ours
        body = bodies.body_of(response)
        changed = substitute(body, mapping, response.headers.get("content-type")) if body else None
        if changed is None:
            return
        response.content = changed
        self.rewritten += 1
        for old, new in mapping.items():
            self._remember(new, old)
            metadata.note_rewrite(flow, "response", "address", old, new)

    def _map_back(self, flow: http.HTTPFlow, mode: ReverseMode) -> None:
        msg = decoded.message(flow, "request")
        to = msg.to
        if msg.protocol == "not-soap" or not is_url(to):
            return
        assert to is not None
        scheme, netloc = proxy_origin(flow, ctx.options.dspscope_advertise)
        if origin_key(to) != origin_key(f"{scheme}://{netloc}/"):
            return
        original = self.back.get(to) or with_origin(to, mode.scheme, _netloc(mode.address))
        body = bodies.body_of(flow.request)
        found = (substitute_moving(body, {to: original}, flow.request.headers.get("content-type"))
                 if body else None)
        if found is None:
            return
        changed, end, moved = found
        flow.request.content = changed
        metadata.note_rewrite(flow, "request", "address", to, original)
        # Only wsa:To changed: keep the decode rather than parse the body again.
        decoded.keep_decoded(flow, "request", replace(msg, to=original), moved=(end, moved))

    def _remember(self, ours: str, theirs: str) -> None:
        self.back[ours] = theirs
        self.back.move_to_end(ours)
        while len(self.back) > MAX_REMEMBERED:
            self.back.popitem(last=False)


def _netloc(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
