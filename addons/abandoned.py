"""Exchanges whose device left before its request was complete.

mitmproxy 12, with the lazy connection strategy ``dspscope proxy`` uses,
runs no ``error`` hook when a client resets its connection in the middle of
a request body (mitmproxy 11 does, and so does 12 for a clean close).  Such
an upload would be missing from the captures, the job timeline and the line
per exchange.  This addon remembers each request from its headers until it
is complete; when its client disconnects first, the request gets an error
and the ``error`` hook runs for it, as mitmproxy does in the other cases.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from mitmproxy import ctx, http
from mitmproxy.flow import Error

# Not in the module's __all__, but where mitmproxy 11 and 12 both keep it.
from mitmproxy.proxy.layers.http import HttpErrorHook  # type: ignore[attr-defined]

logger = logging.getLogger(__name__)

MESSAGE = "client disconnected before the request was complete"


class Abandoned:
    name = "dspscope_abandoned"

    def __init__(self) -> None:
        self.reported = 0
        self._open: dict[str, weakref.WeakSet[http.HTTPFlow]] = {}

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self._open.setdefault(flow.client_conn.id, weakref.WeakSet()).add(flow)

    def request(self, flow: http.HTTPFlow) -> None:
        self._forget(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._forget(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._forget(flow)

    async def client_disconnected(self, client: Any) -> None:
        for flow in list(self._open.pop(client.id, ())):
            if flow.error is not None or flow.response is not None:
                continue
            flow.error = Error(MESSAGE)
            self.reported += 1
            try:
                await ctx.master.addons.trigger_event(HttpErrorHook(flow))
            except Exception:  # noqa: BLE001 - the connection is gone either way
                logger.exception("reporting an abandoned request failed")

    def _forget(self, flow: http.HTTPFlow) -> None:
        waiting = self._open.get(flow.client_conn.id)
        if waiting is not None:
            waiting.discard(flow)
