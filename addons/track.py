"""The track addon: runs last, after anything that may have rewritten a
body; feeds the job tracker with what really crossed the wire and writes
the flow's record (metadata.py).

The proxy fails open: an exception here is logged and counted, the flow
gets a record saying so, and goes on untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from mitmproxy import ctx, http

from dspscope.addons.decoded import hashed, prefetch_hashes, report_error, state_of
from dspscope.addons.metadata import METADATA_VERSION, analyze, device_of, write_metadata
from dspscope.wsdsp.jobs import JobTracker

logger = logging.getLogger(__name__)

JobListener = Callable[[list[dict[str, Any]]], None]


class Track:
    """Runs last: feeds the job tracker and writes ``flow.metadata``.

    Jobs that finished, or stayed idle for ``dspscope_job_idle`` seconds,
    are summarised and evicted (at most every ``EVICT_EVERY`` seconds), so
    the proxy's memory stays bounded however long it runs."""

    name = "dspscope_track"
    EVICT_EVERY = 30.0

    def __init__(self, tracker: JobTracker | None = None) -> None:
        # A proxy runs for months: remember what checks need for minutes of
        # traffic, not hours (the defaults kept ~25 MB more after 200,000
        # exchanges: 100k MessageIDs, 10k job summaries nobody reads here).
        self.tracker = tracker or JobTracker(max_message_ids=10_000, max_summaries=2_000)
        self.errors = 0
        self.exchanges = 0
        self.listeners: list[JobListener] = []
        self._last_evict = time.monotonic()

    def load(self, loader: Any) -> None:
        loader.add_option(
            "dspscope_job_idle", int, 3600,
            "Seconds after which a job that saw no traffic is summarised and forgotten.",
        )

    def request(self, flow: http.HTTPFlow) -> None:
        # Last request hook: the body is final, hash it while the server reads it.
        try:
            prefetch_hashes(flow)
        except Exception as exc:  # noqa: BLE001 - fail open
            report_error(flow, "hash", exc)

    def response(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def done(self) -> None:
        self._publish(self.tracker.evict(before=float("inf")))

    def _finish(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        if state.done:
            return
        state.done = True
        self.exchanges += 1
        try:
            request = hashed(flow, "request")  # done by Decode already, unless it is absent
            response = hashed(flow, "response") if flow.response is not None else None
            meta, seen = analyze(flow, self.tracker, request, response)
            ended = self.tracker.retire_if_done(seen.job)
        except Exception as exc:  # noqa: BLE001 - fail open
            ended = None
            self.errors += 1
            report_error(flow, "track", exc)
            meta = {"version": METADATA_VERSION, "kind": "exchange", "protocol": None,
                    "operation": None, "job_token": None, "device": device_of(flow, "exchange"),
                    "request": None, "response": None, "findings": []}
        meta["error"] = "; ".join(state.errors) or None
        write_metadata(flow, meta)
        if ended is not None:  # its summary now, not at the next eviction
            self._publish([ended])
        self._maybe_evict()

    def _maybe_evict(self) -> None:
        now = time.monotonic()
        if now - self._last_evict < self.EVICT_EVERY:
            return
        self._last_evict = now
        idle = _option("dspscope_job_idle", 3600)
        self._publish(self.tracker.evict(before=time.time() - idle))

    def _publish(self, summaries: list[dict[str, Any]]) -> None:
        if not summaries:
            return
        for listener in self.listeners:
            try:
                listener(summaries)
            except Exception:  # noqa: BLE001 - a listener must not break tracking
                logger.exception("job listener failed")


def _option(name: str, default: Any) -> Any:
    try:
        return getattr(ctx.options, name)
    except (AttributeError, KeyError):
        return default
