"""The viewer's headless core: exchange rows, jobs and filtering.

No Textual here (a test proves it): the store is fed exchange records (the
JSONL record shape of ``addons.record.record_of``) and keeps, per exchange,
one row (``viewer.row``) whose attributes the list shows and the filter
language reads, lower-cased ahead of time so a filter over 100,000 rows
stays a tight loop, in the columns of a ``viewer.table.Table``.
Jobs come from ``wsdsp.jobs.JobTracker`` fed with the same records, so the
viewer's idea of a job's state is the proxy's.

Rows are append-only and addressed by index; an exchange seen again (a
paused flow that completed) replaces its row in place.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from dspscope.addons.metadata import dropped_by, message_of
from dspscope.viewer.filters import Documents, Query, parse
from dspscope.viewer.flowstore import Location
from dspscope.viewer.row import KEY_VALUES_LIMIT as KEY_VALUES_LIMIT
from dspscope.viewer.row import Row as Row
from dspscope.viewer.row import row_of as row_of
from dspscope.viewer.table import Table
from dspscope.wsdsp.jobs import Job, JobTracker


class Store:
    """Rows, the current filter's view of them, and the jobs they form.

    ``documents(row)`` (optional) yields parsed XML roots of an exchange
    for ``xpath:`` filters; the store itself never touches flows."""

    def __init__(self, documents: Documents | None = None) -> None:
        self.rows = Table()
        self.by_id: dict[str, int] = {}
        self.query: Query = parse("")
        self.view: list[int] = []
        self.documents = documents
        # Every job is kept (the Jobs view); message ids as long as the
        # proxy's tracker keeps them, so a viewer left running stays bounded.
        self.tracker = JobTracker(max_jobs=1_000_000, max_message_ids=10_000)
        #: The job of each row (by index), None: none or not known yet.
        self._jobs: list[Job | None] = []
        self.jobs_changed = 0

    # ---------------------------------------------------------------- feeding

    def add(self, record: Mapping[str, Any], **flags: Any) -> Row:
        """Append the row of ``record``, or replace the row it had."""
        return self.add_row(row_of(record, -1, **flags))

    def add_row(self, row: Row, flow_at: Location | None = None) -> Row:
        """Append ``row`` (built by ``row_of``, maybe in another thread), or
        replace the row of the same exchange; ``flow_at``: where its flow is."""
        known = self.by_id.get(row.id) if row.id else None
        untracked = known is None or self.rows.pending(known)
        if known is None:
            row.index = self.rows.append(row, flow_at)
            self._jobs.append(None)
            if row.id:
                self.by_id[row.id] = row.index
            if self.query.match(row, self.documents):
                self.view.append(row.index)
        else:
            row.index = known
            self.rows.replace(known, row, flow_at)
            self._refilter_one(known, row)
        if untracked and not row.pending:
            self._track(row)
        return row

    def _refilter_one(self, index: int, row: Row) -> None:
        at = bisect.bisect_left(self.view, index)
        present = at < len(self.view) and self.view[at] == index
        wanted = self.query.match(row, self.documents)
        if wanted and not present:
            self.view.insert(at, index)
        elif present and not wanted:
            del self.view[at]

    def _track(self, row: Row) -> None:
        request = message_of(row.record.get("request"))
        if request is None:
            return
        if row.kind == "event":
            observation = self.tracker.event(request, exchange_id=row.id, time=row.time,
                                             dropped=dropped_by(row.record.get("rules")))
        else:
            response = message_of(row.record.get("response"))
            status = row.record.get("status")
            observation = self.tracker.exchange(request, response, device=row.device,
                                                exchange_id=row.id, time=row.time,
                                                status=status if isinstance(status, int) else None)
        if observation.job is not None:
            self._jobs[row.index] = observation.job
            self.jobs_changed += 1

    # -------------------------------------------------------------- filtering

    def filter(self, query: Query, upto: int | None = None) -> list[int]:
        """Indices of rows[:upto] that match ``query`` (safe to run in a thread
        while rows are appended: it reads a fixed prefix)."""
        return query.select(self.rows.views(upto), self.documents)

    def set_view(self, query: Query, indices: list[int], upto: int) -> None:
        """Install a filter result computed over rows[:upto], catching up
        with rows appended meanwhile."""
        self.query = query
        tail = query.select(self.rows.views(), self.documents, start=upto)
        self.view = indices + tail

    def apply(self, text: str) -> Query:
        """Parse and apply a query now (raises FilterError)."""
        query = parse(text)
        upto = len(self.rows)
        self.set_view(query, self.filter(query, upto), upto)
        return query

    # ------------------------------------------------------------------- jobs

    def jobs(self) -> list[Job]:
        """Jobs in order of creation."""
        return sorted(self.tracker.jobs.values(), key=lambda job: job.created_at)

    def job_of(self, row: Row) -> Job | None:
        index = self.by_id.get(row.id)
        job = self._jobs[index] if index is not None else None
        return job or (self.tracker.job(row.job) if row.job else None)

    def rows_of(self, job: Job) -> list[Row]:
        found = [self.rows[i] for i in (self.by_id.get(x) for x in job.exchanges) if i is not None]
        return sorted(found, key=lambda row: (row.time, row.index))

    def __len__(self) -> int:
        return len(self.rows)

    def flow_location(self, exchange_id: str) -> Location | None:
        """Where the flow of an exchange is on disk (None: not on disk)."""
        index = self.by_id.get(exchange_id)
        return None if index is None else self.rows.flow_location(index)

    def row(self, exchange_id: str) -> Row | None:
        index = self.by_id.get(exchange_id)
        return None if index is None else self.rows[index]

    def visible(self, position: int) -> Row:
        return self.rows[self.view[position]]

