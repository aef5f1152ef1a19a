"""Say so when a transparent proxy cannot tell where a connection was going.

In transparent mode the proxy learns each connection's destination from the
NAT rule that redirected it (SO_ORIGINAL_DST on Linux).  Two things go wrong
in practice, both silently in plain mitmproxy:

- the connection was not redirected at all (a device or a health check that
  connects straight to the proxy's port): its "original destination" is the
  proxy itself, and forwarding it would loop back into the proxy;
- the destination cannot be read (no NAT on this host, e.g. a DNAT on
  another box, or an IPv6 connection without the ip6tables rule): mitmproxy
  logs a bare "Transparent mode failure" and drops it.

The first is refused here, the second gets a hint; both are warned about
with what to do, a few times rather than once per connection.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from mitmproxy import connection, ctx
from mitmproxy.proxy.mode_specs import TransparentMode

logger = logging.getLogger(__name__)

#: mitmproxy's logger for the listeners, which logs the failure to read a destination.
MITM_LISTENERS = "mitmproxy.proxy.mode_servers"
HINT = ("the original destination of a connection could not be read: only connections "
        "redirected to this proxy by a NAT rule on this host can be (see the rule printed at "
        "start; for IPv6 the ip6tables or nft inet rule)")


def worth_telling(count: int) -> bool:
    """The 1st, 10th, 100th, ... time: enough to notice, never a flood."""
    return count > 0 and str(count).rstrip("0") == "1"


def is_local(host: str) -> bool:
    """Whether ``host`` is an address of this machine (binding to it works)."""
    host = host.partition("%")[0]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True


def own_ports() -> set[int]:
    server = ctx.master.addons.get("proxyserver")
    ports = {int(addr[1]) for instance in getattr(server, "servers", ())
             for addr in instance.listen_addrs}
    return ports or {int(ctx.options.listen_port or 0)}


class _FailureNote(logging.Filter):
    def __init__(self, owner: TransparentCheck) -> None:
        super().__init__()
        self.owner = owner

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Transparent mode failure"):
            return True
        self.owner.unreadable += 1
        if not worth_telling(self.owner.unreadable):
            return False
        record.msg, record.args = "%s (%d so far): %s", (
            HINT, self.owner.unreadable, record.getMessage())
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class TransparentCheck:
    """Refuses connections that were not redirected; explains unreadable ones."""

    name = "dspscope_transparent"

    def __init__(self) -> None:
        self.unredirected = 0
        self.unreadable = 0
        self._note = _FailureNote(self)

    def running(self) -> None:
        logging.getLogger(MITM_LISTENERS).addFilter(self._note)

    def done(self) -> None:
        logging.getLogger(MITM_LISTENERS).removeFilter(self._note)

    def client_connected(self, client: connection.Client) -> None:
        if not isinstance(client.proxy_mode, TransparentMode) or not client.sockname:
            return
        # mitmproxy has put the original destination in sockname.
        host, port = str(client.sockname[0]), int(client.sockname[1])
        if port not in own_ports() or not is_local(host):
            return
        self.unredirected += 1
        client.error = "not redirected: its original destination is this proxy"
        if worth_telling(self.unredirected):
            peer: Any = client.peername[0] if client.peername else "?"
            logger.warning(
                "a connection from %s came to the transparent listener directly, not redirected, "
                "so its destination is unknown; refused (%d so far). Redirect the devices' traffic "
                "with the rule printed at start, or use --mode regular for devices set to use a "
                "proxy", peer, self.unredirected)
