"""Says how to fix a scan server certificate the proxy cannot verify.

mitmproxy logs "Server TLS handshake failed. Certificate verify failed:
..." for every attempt; the user needs to know which option makes the
server trusted.  Said once per server, as a warning beside mitmproxy's.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

HINT = ("trust the CA that issued it with --upstream-ca PEM, or skip the check with --insecure "
        "(stock mitmproxy: --set ssl_verify_upstream_trusted_ca=PEM, or --ssl-insecure)")


def is_verification_failure(error: str | None) -> bool:
    return bool(error) and "certificate verify failed" in str(error).lower()


class UpstreamTrust:
    name = "dspscope_upstream_trust"

    def __init__(self) -> None:
        self.told: set[tuple[str, int]] = set()

    def tls_failed_server(self, data: Any) -> None:
        conn = data.conn
        if not is_verification_failure(conn.error) or conn.address is None:
            return
        host, port = str(conn.address[0]), int(conn.address[1])
        if (host, port) in self.told:
            return
        self.told.add((host, port))
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        logger.warning("cannot verify the scan server's certificate at %s (%s): %s",
                       where, conn.error, HINT)
