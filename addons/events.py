"""Bring WS-Eventing events through the proxy.

Events travel from server to device on connections the server opens, so a
proxy in front of the server never sees them.  This addon rewrites the
``NotifyTo`` (and ``EndTo``) address of each Subscribe to a listener of the
proxy: ``BASE/dspscope/notify/KEY``, where KEY is the device's real address
(base64url).  When the server posts an event there, the addon points the
request at the device's real address and fixes its ``wsa:To`` back, so the
device gets what it subscribed to, and the event lands in the same capture
and job timeline as the exchanges.

Carrying the real address in the key keeps the proxy stateless: a restarted
proxy still delivers events for subscriptions made before it restarted.  The
key is signed (HMAC with a secret derived from the proxy's CA key), so the
listener relays only to addresses the proxy itself put there: otherwise
anyone who reaches it could have the proxy POST anything to any host.

``dspscope_events`` says where the server should send events: ``PORT``,
``HOST:PORT`` or ``http(s)://HOST:PORT``.  Without a host, the events are
advertised at the proxy's own address on the server's side, the source
address of its connection to the server (or, before that connection is
open, the address the system would send from): that is the one address the
server is sure to reach, in every mode.  In transparent mode the address the
device "reached" is the server's own, and in regular mode it may be one the
server has no route to.  That listener is a second proxy mode,
e.g. ``--mode reverse:http://127.0.0.1:9@5363`` beside the main reverse mode
(with ``connection_strategy=lazy``, so nothing connects to the placeholder
target).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import ctx, exceptions, http

from dspscope.addons import bodies, decoded, metadata
from dspscope.addons.addresses import is_url, substitute

logger = logging.getLogger(__name__)

PREFIX = "/dspscope/notify/"
#: The placeholder target of the events listener's reverse mode: nothing
#: connects to it (connection_strategy=lazy), every event is re-aimed.
EVENTS_TARGET = "http://127.0.0.1:9"


_MAC_BYTES = 12


class _Secret:
    """What signs sink keys: derived from the file ``source`` (the CA key,
    so it survives restarts) once it can be read; a random one until then."""

    source: Path | None = None
    value: bytes | None = None
    fallback = secrets.token_bytes(32)


def use_secret_from(path: Path) -> None:
    _Secret.source, _Secret.value = path, None


def _secret() -> bytes:
    if _Secret.value is None and _Secret.source is not None:
        try:
            _Secret.value = hashlib.sha256(b"dspscope event sinks\0" + _Secret.source.read_bytes()).digest()
        except OSError:
            return _Secret.fallback
    return _Secret.value or _Secret.fallback


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _mac(address: str, secret: bytes | None = None) -> str:
    key = secret if secret is not None else _secret()
    return _b64(hmac.new(key, address.encode("utf-8"), hashlib.sha256).digest()[:_MAC_BYTES])


def sink_key(address: str) -> str:
    return f"{_b64(address.encode('utf-8'))}.{_mac(address)}"


def sink_address(key: str) -> str | None:
    """The real address a key stands for, or None if it is not one of ours
    (not signed by this proxy)."""
    return _verified(_secret(), key)


@functools.lru_cache(maxsize=4096)
def _verified(secret: bytes, key: str) -> str | None:
    # Cached: every event of a subscription comes with the same key, and
    # checking it (base64, HMAC, URL) cost a tenth of relaying the event.
    # The secret is part of the cache key: a new secret checks keys afresh.
    encoded, dot, mac = key.partition(".")
    try:
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not dot or not hmac.compare_digest(mac, _mac(text, secret)):
        return None
    return text if is_url(text) and urlsplit(text).hostname else None


def parse_events(spec: str) -> tuple[str | None, str | None, int]:
    """(scheme or None, host or None, port) from PORT, HOST:PORT or URL."""
    if "://" in spec:
        parts = urlsplit(spec)
        if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
            raise ValueError(f"events address must be http(s)://HOST:PORT, not {spec!r}")
        return parts.scheme, parts.hostname, parts.port
    host, sep, port = spec.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"events address must be PORT, HOST:PORT or a URL, not {spec!r}")
    host = host.strip("[]") if sep else ""
    return None, host or None, int(port)


_ANY_HOST = frozenset({"", "0.0.0.0", "::"})


def _plain_ip(host: str) -> str:
    """An address as an events URL wants it: no IPv6 zone, no IPv4-mapped form."""
    host = host.partition("%")[0]
    return host[7:] if host.lower().startswith("::ffff:") and "." in host else host


async def route_source(host: str, port: int) -> str | None:
    """The local address the system would send from to reach (host, port),
    or None.  A UDP socket's connect sends nothing: it only picks the route."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError):
        return None
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            try:
                probe.connect(sockaddr)
            except OSError:
                continue
            local = _plain_ip(str(probe.getsockname()[0]))
            if local not in _ANY_HOST:
                return local
    return None


def server_side(flow: http.HTTPFlow) -> tuple[str, int] | None:
    """Where this request goes: the server (reverse), the original destination
    (transparent), the request's host (regular)."""
    address = flow.server_conn.address
    if address and address[0]:
        return str(address[0]), int(address[1])
    if flow.request.host:
        return flow.request.host, flow.request.port
    return None


async def server_facing_host(flow: http.HTTPFlow, bind: str | None = None) -> str | None:
    """The proxy's own address toward the server of ``flow``: the source
    address of the open connection, else ``bind`` (mitmproxy's connect_addr),
    else the address the route to the server starts from."""
    server = flow.server_conn
    if server.connected and server.sockname and _plain_ip(str(server.sockname[0])) not in _ANY_HOST:
        return _plain_ip(str(server.sockname[0]))
    if bind:
        return bind
    target = server_side(flow)
    return await route_source(*target) if target else None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _subscription_sinks(fields: Any) -> list[str]:
    body = fields.get("Subscribe") if isinstance(fields, dict) else None
    if not isinstance(body, dict):
        return []
    out = []
    delivery = body.get("Delivery")
    notify = delivery.get("NotifyTo") if isinstance(delivery, dict) else None
    for epr in (notify, body.get("EndTo")):
        address = epr.get("Address") if isinstance(epr, dict) else None
        if isinstance(address, str) and is_url(address):
            out.append(address)
    return out


class Events:
    """Rewrites Subscribe sinks to the proxy and relays events to devices."""

    name = "dspscope_events"

    def __init__(self) -> None:
        self.relayed = 0
        self.subscriptions = 0
        self.errors = 0
        self._spec: tuple[str | None, str | None, int] | None = None
        self._warned_unreachable = False

    def load(self, loader: Any) -> None:
        loader.add_option(
            "dspscope_events", str | None, None,
            "Where the server should send WS-Eventing events: PORT, HOST:PORT or "
            "http(s)://HOST:PORT of a proxy listener. Subscribe's NotifyTo is rewritten to "
            "it and events are relayed to the device. Without HOST: the proxy's own address "
            "toward the server. Unset: subscriptions pass unchanged.",
        )

    def configure(self, updated: set[str]) -> None:
        if "confdir" in updated:
            use_secret_from(Path(ctx.options.confdir).expanduser() / "mitmproxy-ca.pem")
        if "dspscope_events" in updated:
            spec = ctx.options.dspscope_events
            try:
                self._spec = parse_events(spec) if spec else None
            except ValueError as exc:
                raise exceptions.OptionsError(str(exc)) from exc

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            return
        try:
            if flow.request.path.startswith(PREFIX):
                self._relay(flow)
            elif self._spec is not None:
                await self._rewrite_subscribe(flow)
        except Exception as exc:  # noqa: BLE001 - fail open
            self.errors += 1
            decoded.report_error(flow, "events", exc)

    async def events_host(self, flow: http.HTTPFlow) -> str | None:
        """The host the server should send this subscription's events to."""
        assert self._spec is not None
        host = self._spec[1]
        if host is None:
            host = await server_facing_host(flow, getattr(ctx.options, "connect_addr", None))
        server = server_side(flow)
        if (host is not None and _is_loopback(host) and server is not None
                and not _is_loopback(server[0]) and not self._warned_unreachable):
            self._warned_unreachable = True
            logger.warning(
                "events are advertised at %s, which the server %s cannot reach: listen on an "
                "address it reaches (--listen-host) or name one (--events-advertise)",
                host, server[0])
        return host

    def base_url(self, host: str, original: str) -> str:
        assert self._spec is not None
        scheme, _, port = self._spec
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme or urlsplit(original).scheme}://{host}:{port}"

    async def _rewrite_subscribe(self, flow: http.HTTPFlow) -> None:
        msg = decoded.message(flow, "request")
        if msg.protocol != "ws-eventing" or msg.operation != "Subscribe" or msg.kind != "request":
            return
        sinks = [s for s in _subscription_sinks(msg.fields) if not urlsplit(s).path.startswith(PREFIX)]
        if not sinks:
            return
        host = await self.events_host(flow)
        if host is None:
            raise ValueError("cannot tell the proxy's address toward the server; the subscription "
                             "passes unchanged (name one with --events-advertise)")
        mapping = {sink: self.base_url(host, sink) + PREFIX + sink_key(sink) for sink in sinks}
        body = bodies.body_of(flow.request)
        changed = substitute(body, mapping, flow.request.headers.get("content-type")) if body else None
        if changed is None:
            return
        flow.request.content = changed
        self.subscriptions += 1
        for old, new in mapping.items():
            metadata.note_rewrite(flow, "request", "notify-to", old, new)

    def _relay(self, flow: http.HTTPFlow) -> None:
        ours = flow.request.pretty_url if logger.isEnabledFor(logging.DEBUG) else ""
        key = flow.request.path[len(PREFIX):].partition("?")[0]
        sink = sink_address(key)
        if sink is None:
            self.errors += 1
            flow.response = http.Response.make(404, b"", {"content-type": "text/plain"})
            decoded.report_error(flow, "events", ValueError(f"no event sink in {flow.request.path!r}"))
            return
        msg = decoded.message(flow, "request")
        flow.request.url = sink
        flow.request.host_header = urlsplit(sink).netloc
        decoded.state_of(flow).relayed_to = sink
        self.relayed += 1
        if msg.to and urlsplit(msg.to).path.startswith(PREFIX):
            body = bodies.body_of(flow.request)
            changed = (substitute(body, {msg.to: sink}, flow.request.headers.get("content-type"))
                       if body else None)
            if changed is not None:
                flow.request.content = changed
                metadata.note_rewrite(flow, "request", "event-to", msg.to, sink)
                # Only wsa:To changed: keep the decode rather than parse the event again.
                decoded.keep_decoded(flow, "request", replace(msg, to=sink))
        logger.debug("event relayed from %s to %s", ours, sink)
