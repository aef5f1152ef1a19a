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
from typing import Any

from mitmproxy import exceptions, http, io
from mitmproxy.flow import Flow
from mitmproxy.utils import human

from dspscope.addons.decoded import hashed
from dspscope.addons.metadata import METADATA_KEY, METADATA_VERSION, analyze
from dspscope.wsdsp.jobs import JobTracker


def has_metadata(flow: http.HTTPFlow) -> bool:
    meta = flow.metadata.get(METADATA_KEY)
    return isinstance(meta, dict) and meta.get("version") == METADATA_VERSION


def metadata_of(flow: http.HTTPFlow, tracker: JobTracker | None = None) -> dict[str, Any]:
    """The flow's saved verdict, or one computed now (not stored)."""
    if has_metadata(flow):
        return flow.metadata[METADATA_KEY]
    request = hashed(flow, "request")
    response = hashed(flow, "response") if flow.response is not None else None
    meta, _ = analyze(flow, tracker if tracker is not None else JobTracker(), request, response)
    meta["rules"] = []
    return meta


def record_of(flow: http.HTTPFlow, tracker: JobTracker | None = None) -> dict[str, Any]:
    """The JSON record of one exchange (see the README for its keys)."""
    meta = metadata_of(flow, tracker)
    request = flow.request
    response = flow.response
    duration = None
    if response is not None and response.timestamp_end and request.timestamp_start:
        duration = round((response.timestamp_end - request.timestamp_start) * 1000, 3)
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
