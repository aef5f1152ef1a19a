"""One exchange (or relayed event) as the viewer's list shows it and its
filter language reads it: ``row_of`` builds it from the exchange's record
(the JSONL record shape of ``addons.record.record_of``), in whatever thread
has the record; the store keeps rows in columns (``viewer.table``) and
builds a ``Row`` again for what a screen shows.  No Textual here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dspscope.viewer.filters import SEVERITY_RANK
from dspscope.viewer.flowstore import Location

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
    #: Where ``record`` is kept on disk: once the store has tracked the row
    #: it keeps only that (None: it keeps the record).
    later: Location | None = field(default=None, repr=False)
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
    operation = str(record.get("operation") or "")
    row = Row(
        index=index,
        id=str(record.get("id") or ""),
        time=float(record.get("time") or 0.0),
        device=device if device is not None else client.rpartition(":")[0] or client,
        server=str(record.get("server") or ""),
        method=str(record.get("method") or ""),
        url=str(record.get("url") or ""),
        status=record.get("status"),
        latency=record.get("duration_ms"),
        protocol=str(record.get("protocol") or ""),
        kind=str(record.get("kind") or "exchange"),
        operation=operation,
        job=str(record.get("job_token") or ""),
        fault=str(fault.get("subcode") or fault.get("code") or "")
        if isinstance(fault, Mapping) else "",
        error=str(record.get("error") or ""),
        findings=len(findings),
        severity=worst,
        rules=rules,
        attachments=len(request.get("attachments") or ()) + len(response.get("attachments") or ()),
        rewritten=rewritten,
        rule_delay=record.get("rule_delay_ms"),
        paused=paused,
        pending=pending,
        record=record,
        operation_key=operation.lower(),
        finding_codes=codes.lower(),
        rules_key="\n".join(rules).lower(),
    )
    row.url_key = row.url.lower()
    values = " ".join(_values(request.get("fields"), KEY_VALUES_LIMIT))
    row.key = " ".join((
        str(row.status or ""), row.fault, row.error, row.rules_key, codes, values,
    )).lower()
    row.shared_key = " ".join((row.device, row.server, row.url, operation)).lower()
    return row


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
