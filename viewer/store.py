"""The viewer's headless core: exchange rows, jobs and filtering.

No Textual here (a test proves it): the store is fed exchange records (the
JSONL record shape of ``addons.record.record_of``) and keeps, per exchange,
one ``Row`` whose attributes the list shows and the filter language reads,
lower-cased ahead of time so a filter over 100,000 rows stays a tight loop.
Jobs come from ``wsdsp.jobs.JobTracker`` fed with the same records, so the
viewer's idea of a job's state is the proxy's.

Rows are append-only and addressed by index; an exchange seen again (a
paused flow that completed) replaces its row in place.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dspscope.addons.metadata import dropped_by, message_of
from dspscope.viewer.filters import SEVERITY_RANK, Documents, Query, parse
from dspscope.wsdsp.jobs import Job, JobTracker

KEY_VALUES_LIMIT = 300


@dataclass(slots=True)
class Row:
    """One exchange (or relayed event) as the list shows it."""

    index: int
    id: str
    time: float
    device: str
    server: str
    method: str
    url: str
    status: int | None
    #: ms the device waited, and the rules' share of it (a delay they added)
    latency: float | None
    protocol: str
    kind: str
    operation: str
    job: str
    fault: str
    error: str
    findings: int
    severity: str | None
    rules: tuple[str, ...]
    attachments: int
    rewritten: bool = False
    rule_delay: float | None = None
    paused: bool = False
    pending: bool = False
    record: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: What ``record`` becomes once the store has tracked the row: the
    #: record where it is kept on disk (a lean row), None: keep it.
    later: Mapping[str, Any] | None = field(default=None, repr=False)
    # Lower-cased copies for the filter language.
    operation_key: str = ""
    url_key: str = ""
    finding_codes: str = ""
    rules_key: str = ""
    #: What only this row has (status, fault, findings, values...; its id
    #: and job token are matched where they are) and what many rows share
    #: (device, server, URL, operation: one string for all of them).
    key: str = ""
    shared_key: str = ""

    @property
    def short_job(self) -> str:
        return self.job[:8]


def row_of(record: Mapping[str, Any], index: int, *, device: str | None = None,
           rewritten: bool = False, paused: bool = False, pending: bool = False) -> Row:
    """Build the row of one record (see the JSONL record in TEAM notes/README)."""
    request = record.get("request") or {}
    response = record.get("response") or {}
    findings = record.get("findings") or []
    fault = response.get("fault") or request.get("fault") or {}
    rules = tuple(str(r.get("name", "")) for r in record.get("rules") or () if isinstance(r, Mapping))
    codes = " ".join(str(f.get("code", "")) for f in findings if isinstance(f, Mapping))
    severities = [f.get("severity") for f in findings if isinstance(f, Mapping)]
    worst = min((s for s in severities if s in SEVERITY_RANK), key=SEVERITY_RANK.__getitem__,
                default=None)
    client = str(record.get("client") or "")
    operation = _same(str(record.get("operation") or ""))
    row = Row(
        index=index,
        id=str(record.get("id") or ""),
        time=float(record.get("time") or 0.0),
        device=_same(device if device is not None else client.rpartition(":")[0] or client),
        server=_same(str(record.get("server") or "")),
        method=_same(str(record.get("method") or "")),
        url=_same(str(record.get("url") or "")),
        status=record.get("status"),
        latency=record.get("duration_ms"),
        protocol=_same(str(record.get("protocol") or "")),
        kind=_same(str(record.get("kind") or "exchange")),
        operation=operation,
        job=_same(str(record.get("job_token") or "")),
        fault=_same(str(fault.get("subcode") or fault.get("code") or ""))
        if isinstance(fault, Mapping) else "",
        error=_same(str(record.get("error") or "")),
        findings=len(findings),
        severity=worst,
        rules=rules,
        attachments=len(request.get("attachments") or ()) + len(response.get("attachments") or ()),
        rewritten=rewritten,
        rule_delay=record.get("rule_delay_ms"),
        paused=paused,
        pending=pending,
        record=record,
        operation_key=_same(operation.lower()),
        finding_codes=_same(codes.lower()),
        rules_key=_same("\n".join(rules).lower()),
    )
    row.url_key = _same(row.url.lower())
    values = " ".join(_values(request.get("fields"), KEY_VALUES_LIMIT))
    row.key = " ".join((
        str(row.status or ""), row.fault, row.error, row.rules_key, codes, values,
    )).lower()
    row.shared_key = _same(" ".join((row.device, row.server, row.url, operation)).lower())
    return row


#: Text many rows repeat, one string object for all of them: a row costs
#: its own data only (the live viewer is left running for days).
_SHARED: dict[str, str] = {}
SHARED_LIMIT = 100_000


def _same(text: str) -> str:
    found = _SHARED.get(text)
    if found is None:
        if len(_SHARED) >= SHARED_LIMIT:
            _SHARED.clear()
        found = _SHARED[text] = text
    return found


def _values(node: Any, budget: int) -> list[str]:
    """Scalar values of decoded fields, at most ``budget`` characters in all
    (in document order; plain JSON types first: this runs per row loaded)."""
    out: list[str] = []
    stack = [node]
    push = stack.extend
    while stack and budget > 0:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            text = item[:budget]
        elif kind is dict or (kind is not list and isinstance(item, Mapping)):
            children = list(item.values())
            children.reverse()
            push(children)
            continue
        elif kind is list or kind is tuple:
            push(item[::-1])
            continue
        elif item is None or kind is bool:
            continue
        else:
            text = str(item)[:budget]
        budget -= len(text) + 1
        out.append(text)
    return out


class Store:
    """Rows, the current filter's view of them, and the jobs they form.

    ``documents(row)`` (optional) yields parsed XML roots of an exchange
    for ``xpath:`` filters; the store itself never touches flows."""

    def __init__(self, documents: Documents | None = None) -> None:
        self.rows: list[Row] = []
        self.by_id: dict[str, int] = {}
        self.query: Query = parse("")
        self.view: list[int] = []
        self.documents = documents
        # Every job is kept (the Jobs view); message ids as long as the
        # proxy's tracker keeps them, so a viewer left running stays bounded.
        self.tracker = JobTracker(max_jobs=1_000_000, max_message_ids=10_000)
        self._job_of_exchange: dict[str, Job] = {}
        self.jobs_changed = 0

    # ---------------------------------------------------------------- feeding

    def add(self, record: Mapping[str, Any], **flags: Any) -> Row:
        """Append the row of ``record``, or replace the row it had."""
        return self.add_row(row_of(record, -1, **flags))

    def add_row(self, row: Row) -> Row:
        """Append ``row`` (built by ``row_of``, maybe in another thread), or
        replace the row of the same exchange."""
        known = self.by_id.get(row.id) if row.id else None
        index = len(self.rows) if known is None else known
        row.index = index
        untracked = known is None or self.rows[known].pending
        if known is None:
            self.rows.append(row)
            if row.id:
                self.by_id[row.id] = index
            if self.query.match(row, self.documents):
                self.view.append(index)
        else:
            self.rows[index] = row
            self._refilter_one(index)
        if untracked and not row.pending:
            self._track(row)
        if row.later is not None and not row.pending:
            row.record, row.later = row.later, None
        return row

    def _refilter_one(self, index: int) -> None:
        at = bisect.bisect_left(self.view, index)
        present = at < len(self.view) and self.view[at] == index
        wanted = self.query.match(self.rows[index], self.documents)
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
            self._job_of_exchange[row.id] = observation.job
            self.jobs_changed += 1

    # -------------------------------------------------------------- filtering

    def filter(self, query: Query, upto: int | None = None) -> list[int]:
        """Indices of rows[:upto] that match ``query`` (safe to run in a thread
        while rows are appended: it reads a fixed prefix)."""
        rows = self.rows if upto is None else self.rows[:upto]
        return query.select(rows, self.documents)

    def set_view(self, query: Query, indices: list[int], upto: int) -> None:
        """Install a filter result computed over rows[:upto], catching up
        with rows appended meanwhile."""
        self.query = query
        tail = query.select(self.rows, self.documents, start=upto)
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
        return self._job_of_exchange.get(row.id) or (self.tracker.job(row.job) if row.job else None)

    def rows_of(self, job: Job) -> list[Row]:
        found = [self.rows[i] for i in (self.by_id.get(x) for x in job.exchanges) if i is not None]
        return sorted(found, key=lambda row: (row.time, row.index))

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, exchange_id: str) -> Row | None:
        index = self.by_id.get(exchange_id)
        return None if index is None else self.rows[index]

    def visible(self, position: int) -> Row:
        return self.rows[self.view[position]]

