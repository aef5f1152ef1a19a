"""The flows behind the store: what the viewer holds, loads and saves.

A Session owns the flows (``viewer.flowstore.Flows``: on disk, the recent
ones in memory) and the Store of their rows.  It is headless (mitmproxy,
no Textual), so loading, saving, exporting and the XML views are tested
without an app.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mitmproxy import http

from dspscope.addons.bodies import body_of
from dspscope.addons.record import record_of
from dspscope.exports import output_file
from dspscope.viewer.flowstore import Flows, Location
from dspscope.viewer.store import Row, Store, row_of
from dspscope.wsdsp.codec import parse_envelope
from dspscope.wsdsp.jobs import JobTracker

METADATA_KEY = "dspscope"


def flags_of(flow: http.HTTPFlow) -> dict[str, Any]:
    """Row flags the record does not carry: device, rewritten, pending."""
    meta = flow.metadata.get(METADATA_KEY)
    meta = meta if isinstance(meta, dict) else {}
    flags: dict[str, Any] = {"rewritten": bool(meta.get("original")),
                             "pending": flow.response is None and flow.error is None,
                             "paused": bool(flow.intercepted)}
    if isinstance(meta.get("device"), str) and meta["device"]:
        flags["device"] = meta["device"]
    return flags


@dataclass(frozen=True, slots=True)
class Batch:
    """Flows with their rows, ready for the store: built by the thread that
    produced the flows, so the UI thread only files them."""

    items: tuple[Entry, ...]


#: A flow (None when read from a capture's index: only its place is known),
#: its row and where it is stored (None: held in memory).
Entry = tuple[http.HTTPFlow | None, Row, Location | None]


def entry(flow: http.HTTPFlow, record: dict[str, Any] | None = None,
          tracker: JobTracker | None = None, location: Location | None = None,
          stored: Location | None = None) -> Entry:
    """A flow, its row (``record`` when already computed) and where it is
    stored (None: held in memory); ``stored``: where its record is kept on
    disk, which the row holds once the store has tracked it."""
    if record is None:
        record = record_of(flow, tracker)
    row = row_of(record, -1, **flags_of(flow))
    if stored is not None:
        row.later = stored
    return flow, row, location


def indexed_entry(record: dict[str, Any], flags: Mapping[str, Any], location: Location | None,
                  line: Location | None, flow: http.HTTPFlow | None = None) -> Entry:
    """An exchange of a capture as ``addons.record.read_indexed`` gives it:
    its row, where its flow is in the capture, and where its index line is
    (the row then keeps only that); ``flow`` when it had to be read."""
    row = row_of(record, -1, device=flags.get("device") or None,
                 rewritten=bool(flags.get("rewritten")))
    if line is not None:
        row.later = line
    return flow, row, location


def prepare(flows: Iterable[http.HTTPFlow], tracker: JobTracker | None = None) -> Batch:
    """Rows of ``flows`` held in memory; ``tracker`` follows jobs across a
    capture whose flows carry no dspscope metadata (stock captures)."""
    return Batch(tuple(entry(flow, tracker=tracker) for flow in flows))


class Session:
    """Flows by id and the store of their rows."""

    def __init__(self) -> None:
        self.store = Store(documents=self.documents)
        # Where each flow is on disk is kept in the store's columns.
        self.flows = Flows(locate=self.store.flow_location)

    def add_batch(self, batch: Batch) -> list[Row]:
        rows = []
        for flow, row, location in batch.items:
            if flow is not None and location is not None:
                self.flows.keep(flow)
            elif flow is not None:
                self.flows.put(flow, None)
            rows.append(self.store.add_row(row, location))
        return rows

    def flow(self, row: Row) -> http.HTTPFlow | None:
        return self.flows.get(row.id)

    def documents(self, row: Row) -> Iterator[Any]:
        """Parsed XML roots of an exchange's bodies, for ``xpath:`` filters."""
        flow = self.flows.get(row.id)
        if flow is None:
            return
        for message in (flow.request, flow.response):
            if message is None or not message.raw_content:
                continue
            body = body_of(message)  # encoding undone within the proxy's bound
            if not body:
                continue
            root = parse_envelope(body, message.headers.get("content-type"))
            if root is not None:
                yield root

    # ------------------------------------------------------------ captures

    def save(self, path: str | os.PathLike[str], rows: Sequence[Row] | None = None) -> int:
        """Write the flows of ``rows`` (all by default) as a mitmproxy capture:
        their records are copied, not parsed again."""
        chosen = rows if rows is not None else self.store.rows
        count = 0
        with output_file(path, binary=True) as fh:  # scans: owner-only, as captures
            for row in chosen:
                record = None if row.pending else self.flows.record(row.id)
                if record is not None:
                    fh.write(record)
                    count += 1
        return count

