"""The addons the viewer adds to a live proxy: ``Bridge`` hands finished
flows to the UI's inbox and holds the requests and responses intercept
pauses, ``ResponseGate`` puts the response pause in its place in the chain,
and ``LogStream`` turns the proxy's log into the Log view's lines.

They run on the proxy's thread and loop; the UI reaches them only through
the inbox and ``LiveSource.call`` (live.py).  Whatever goes wrong here is
the viewer's trouble, never the traffic's.
"""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import http

from dspscope.addons.index import dumps
from dspscope.addons.record import record_of
from dspscope.viewer.controls import Answer
from dspscope.viewer.filters import Query
from dspscope.viewer.flowstore import Location, Spool
from dspscope.viewer.inbox import Inbox
from dspscope.viewer.session import Batch, entry, flags_of
from dspscope.viewer.store import row_of

logger = logging.getLogger(__name__)
INTERCEPT_RULE = "intercept"


class LogStream:
    """A text stream for ProxyRunner's log printer: one log line per line."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    def write(self, text: str) -> int:
        for line in text.splitlines():
            level = "info"
            for prefix in ("warning", "error"):
                if line.startswith(prefix + ": "):
                    level, line = prefix, line[len(prefix) + 2:]
            if line.strip():
                self.inbox.log(level, line)
        return len(text)

    def flush(self) -> None:
        pass


class Bridge:
    """Runs after Track: finished flows go to the inbox; requests matching
    the intercept filter are paused until the UI lets them go."""

    name = "dspscope_viewer"

    def __init__(self, inbox: Inbox, spool: Spool | None = None,
                 records: Spool | None = None) -> None:
        self.inbox = inbox
        self.spool = spool
        #: Where finished exchanges' records go, so that rows need not hold
        #: them (a viewer left on a site for days: about 1 KB an exchange).
        self.records = records
        self.query: Query | None = None
        self.paused: dict[str, http.HTTPFlow] = {}
        self._spool_failed = False

    def _deliver(self, flow: http.HTTPFlow, record: dict[str, Any],
                 location: Location | None = None, stored: Location | None = None) -> None:
        self.inbox.put_batch(Batch((entry(flow, record, location=location, stored=stored),)))

    def _store(self, flow: http.HTTPFlow) -> Location | None:
        """Append the finished flow to the session's spool, so the UI need
        not keep it in memory."""
        if self.spool is None:
            return None
        try:
            return self.spool.append(flow)
        except OSError as exc:
            if not self._spool_failed:
                self._spool_failed = True
                self.inbox.notice(f"cannot spool exchanges to disk ({exc.strerror or exc}); "
                                  "keeping them in memory", "warning")
            return None

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is None:
            self._pause_if_matching(flow, response=False)

    async def pause_response(self, flow: http.HTTPFlow) -> None:
        """The server's answer, when it matches the intercept filter, waits
        here (before Track: what is forwarded is what gets recorded) until
        the UI forwards it, edited or not, or answers with a fault."""
        if flow.response is None or flow.error is not None:
            return
        if self._pause_if_matching(flow, response=True):
            await flow.wait_for_resume()

    def _pause_if_matching(self, flow: http.HTTPFlow, *, response: bool) -> bool:
        """Pause ``flow`` and show it if the intercept filter matches it."""
        query = self.query
        if query is None:
            return False
        try:
            record = record_of(flow)
            if response and record.get("kind") == "event":
                return False  # the device's answer to an event is not the server's
            record["findings"] = []  # judged when it is recorded
            if not query.match(row_of(record, 0, **flags_of(flow))):
                return False
        except Exception:  # noqa: BLE001 - intercept must never break traffic
            logger.exception("intercept filter failed")
            return False
        flow.intercept()
        self.paused[flow.id] = flow
        self._deliver(flow, record)
        return True

    def response(self, flow: http.HTTPFlow) -> None:
        self._finished(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finished(flow)

    def _finished(self, flow: http.HTTPFlow) -> None:
        self.paused.pop(flow.id, None)
        try:
            record = record_of(flow)
            location = self._store(flow)
            stored = None
            if location is not None and self.records is not None:
                try:
                    stored = self.records.append_bytes(dumps(record))
                except OSError:
                    stored = None  # the row keeps its record
            self._deliver(flow, record, location, stored)
        except Exception:  # noqa: BLE001 - the viewer's trouble, not the traffic's
            logger.exception("viewer: cannot show flow %s", flow.id)

    # ----------------------------------------------- run on the proxy's loop

    def forward(self, exchange_id: str, content: bytes | None) -> None:
        flow = self.paused.pop(exchange_id, None)
        if flow is None or not flow.intercepted:
            return
        side = "response" if flow.response is not None else "request"
        message = flow.response if flow.response is not None else flow.request
        if content is not None and content != message.raw_content:
            meta = flow.metadata.setdefault("dspscope", {})
            meta.setdefault("original", {}).setdefault(side, message.raw_content or b"")
            meta.setdefault("rules", []).append(
                {"name": INTERCEPT_RULE, "action": "edit", "side": side})
            message.content = content
        flow.resume()

    def answer(self, exchange_id: str, answer: Answer) -> None:
        """A paused request is answered in the server's place; a paused
        response is replaced (the server's kept as the original)."""
        flow = self.paused.pop(exchange_id, None)
        if flow is None or not flow.intercepted:
            return
        side = "response" if flow.response is not None else "request"
        meta = flow.metadata.setdefault("dspscope", {})
        if flow.response is not None:
            meta.setdefault("original", {}).setdefault("response", flow.response.raw_content or b"")
        meta.setdefault("rules", []).append(
            {"name": INTERCEPT_RULE, "action": "answer", "side": side})
        flow.response = http.Response.make(answer.status, answer.content,
                                           {"Content-Type": answer.content_type})
        flow.resume()

    def forward_all(self) -> int:
        flows = list(self.paused.values())
        self.paused.clear()
        for flow in flows:
            if flow.intercepted:
                flow.resume()
        return len(flows)


class ResponseGate:
    """Runs just before Track: a response the intercept filter matches waits
    in ``Bridge.pause_response`` until the UI lets it go."""

    name = "dspscope_viewer_responses"

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    async def response(self, flow: http.HTTPFlow) -> None:
        await self.bridge.pause_response(flow)
