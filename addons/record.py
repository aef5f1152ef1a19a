"""One record per exchange, the same everywhere: ``dspscope proxy --jsonl``,
``dspscope export``, check, the viewer and replay all build it with
``record_of`` and never their own way.

A flow captured by the dspscope proxy carries its decoded verdict in
``flow.metadata["dspscope"]``.  A flow from any other mitmproxy capture gets
the same verdict computed on the fly; give ``record_of`` one ``JobTracker``
for the whole capture (or use ``records``) so that jobs are followed across
it in order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mitmproxy import exceptions, http, io
from mitmproxy.flow import Flow
from mitmproxy.utils import human

from dspscope.addons.decoded import hashed
from dspscope.addons.metadata import METADATA_KEY, METADATA_VERSION, analyze, waited
from dspscope.wsdsp.jobs import JobTracker


def has_metadata(flow: http.HTTPFlow) -> bool:
    meta = flow.metadata.get(METADATA_KEY)
    return isinstance(meta, dict) and meta.get("version") == METADATA_VERSION


def metadata_of(flow: http.HTTPFlow, tracker: JobTracker | None = None) -> dict[str, Any]:
    """The flow's saved verdict, or one computed now (not stored)."""
    if has_metadata(flow):
        saved: dict[str, Any] = flow.metadata[METADATA_KEY]
        return saved
    request = hashed(flow, "request")
    response = hashed(flow, "response") if flow.response is not None else None
    meta, _ = analyze(flow, tracker if tracker is not None else JobTracker(), request, response)
    meta["rules"] = []
    return meta


def record_of(flow: http.HTTPFlow, tracker: JobTracker | None = None) -> dict[str, Any]:
    """The JSON record of one exchange (see the README for its keys)."""
    return record_from(flow, metadata_of(flow, tracker))


def record_from(flow: http.HTTPFlow, meta: dict[str, Any]) -> dict[str, Any]:
    """The record of a flow whose metadata is ``meta``."""
    request = flow.request
    response = flow.response
    latency, held = waited(flow, meta)
    duration = round(latency * 1000, 3) if latency is not None else None
    error = meta.get("error")
    if flow.error is not None:
        error = f"{error}; {flow.error.msg}" if error else flow.error.msg
    return {
        "id": flow.id,
        "time": request.timestamp_start,
        "client": _address(flow.client_conn.peername),
        "server": _address(flow.server_conn.address) or f"{request.host}:{request.port}",
        "method": request.method,
        "url": request.pretty_url,
        "status": response.status_code if response is not None else None,
        "duration_ms": duration,
        "rule_delay_ms": round(held * 1000, 3) if held is not None else None,
        "protocol": meta.get("protocol"),
        "kind": meta.get("kind"),
        "operation": meta.get("operation"),
        "job_token": meta.get("job_token"),
        "request": meta.get("request"),
        "response": meta.get("response"),
        "findings": list(meta.get("findings") or []),
        "rules": list(meta.get("rules") or []),
        "error": error,
    }


def records(flows: Iterable[Flow], tracker: JobTracker | None = None) -> Iterator[dict[str, Any]]:
    """Records of the HTTP flows of a capture, in order, one tracker for all."""
    tracker = tracker if tracker is not None else JobTracker()
    for flow in flows:
        if isinstance(flow, http.HTTPFlow):
            yield record_of(flow, tracker)


def json_line(record: dict[str, Any]) -> str:
    """One record as one line of JSON.  Text mitmproxy decoded with
    surrogateescape (a URL with bytes that are not UTF-8) keeps its lone
    surrogates as \\u escapes instead of failing to encode."""
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    return line.encode("utf-8", "backslashreplace").decode("utf-8")


def _address(address: Any) -> str | None:
    if not address:
        return None
    try:
        return human.format_address(address)
    except (TypeError, ValueError):
        return str(address)


# -------------------------------------------------------------- captures


class CaptureError(Exception):
    """A capture file that could not be read (to its end)."""

    def __init__(self, path: str, flows_read: int, reason: str) -> None:
        self.path = path
        self.flows_read = flows_read
        self.reason = reason
        where = f" after {flows_read} flows" if flows_read else ""
        super().__init__(f"{path}: unreadable{where}: {reason}")


Progress = Callable[[int, int], None]


def read_capture(path: str, progress: Progress | None = None) -> Iterator[Flow]:
    """Stream the flows of a mitmproxy capture (ours or any other), calling
    ``progress(bytes_read, total_bytes)`` after each flow.

    Raises CaptureError, after yielding what could be read, if the file is
    missing or damaged (a torn last record included)."""
    count = 0
    try:
        total = os.path.getsize(path)
        with open(path, "rb") as fh:
            reader = io.FlowReader(fh)
            for flow in reader.stream():
                count += 1
                yield flow
                if progress is not None:
                    progress(fh.tell(), total)
    except OSError as exc:
        raise CaptureError(path, count, exc.strerror or str(exc)) from None
    except exceptions.FlowReadException as exc:
        raise CaptureError(path, count, str(exc) or "not a mitmproxy capture") from None


@dataclass(frozen=True, slots=True)
class Item:
    """One HTTP flow of a capture as an indexed reader sees it: its record
    and flags, where it is in the file, and the flow itself when it had to
    be read (None when the index had it)."""

    offset: int
    length: int
    flags: dict[str, Any]
    record: dict[str, Any]
    flow: http.HTTPFlow | None = None
    #: Where the record is in the capture's index (offset, length), if it came from there.
    line: tuple[int, int] | None = None


def index_flags(flow: http.HTTPFlow, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an index keeps beside a flow's record: the device the exchange
    belongs to, whether the proxy rewrote it, the time the tracker used."""
    meta = meta if meta is not None else flow.metadata.get(METADATA_KEY)
    meta = meta if isinstance(meta, dict) else {}
    flags: dict[str, Any] = {}
    device = meta.get("device")
    if isinstance(device, str) and device:
        flags["device"] = device
    if meta.get("original"):
        flags["rewritten"] = True
    if not flow.request.timestamp_start:
        flags["stamp"] = flow.timestamp_created
    return flags


def read_indexed(path: str, tracker: JobTracker | None = None, progress: Progress | None = None,
                 *, use_index: bool = True, records: bool = True) -> Iterator[Item]:
    """The HTTP flows of a capture in order: from its index as far as that
    agrees with the capture, the rest (all of it without an index) read
    from the capture with records computed (``tracker`` follows jobs across
    flows without dspscope metadata; ``records=False``: the flow only, with
    an empty record, for callers that judge flows themselves).  Raises CaptureError like
    ``read_capture``, after yielding what could be read."""
    from dspscope.addons.index import IndexReader

    tracker = tracker if tracker is not None else JobTracker()
    try:
        total = os.path.getsize(path)
    except OSError as exc:
        raise CaptureError(path, 0, exc.strerror or str(exc)) from None
    count = 0
    start = 0
    if use_index:
        reader = IndexReader(path)
        for entry in reader.entries():
            count += 1
            yield Item(entry.offset, entry.length, dict(entry.flags), entry.record, None, entry.line)
            if progress is not None and count % 1000 == 0:
                progress(entry.offset + entry.length, total)
        start = reader.covered
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            at = start
            for flow in io.FlowReader(fh).stream():
                end = fh.tell()
                count += 1
                if isinstance(flow, http.HTTPFlow) and not records:
                    yield Item(at, end - at, {}, {}, flow)
                elif isinstance(flow, http.HTTPFlow):
                    meta = metadata_of(flow, tracker)
                    yield Item(at, end - at, index_flags(flow, meta), record_from(flow, meta), flow)
                at = end
                if progress is not None:
                    progress(end, total)
    except OSError as exc:
        raise CaptureError(path, count, exc.strerror or str(exc)) from None
    except exceptions.FlowReadException as exc:
        raise CaptureError(path, count, str(exc) or "not a mitmproxy capture") from None
    if progress is not None:
        progress(total, total)


def build_index(path: str, tracker: JobTracker | None = None,
                progress: Progress | None = None) -> int:
    """Write the index of a capture beside it (replacing any); the number of
    flows it holds.  A damaged capture gets an index of what could be read,
    then CaptureError is raised."""
    from dspscope.addons.index import IndexWriter, dumps, entry_line, index_path

    target = index_path(path)
    partial = target.with_name(target.name + ".part")
    writer = IndexWriter(partial)
    count = 0
    try:
        for item in read_indexed(path, tracker, progress, use_index=False):
            writer.write(entry_line(item.offset, item.length, dumps(item.flags), dumps(item.record)))
            count += 1
    except CaptureError:
        writer.close()
        os.replace(partial, target)
        raise
    except BaseException:
        writer.discard()
        raise
    writer.close()
    os.replace(partial, target)
    return count
