"""Captures in, ``wsdsp.replay.Recorded`` out.

Reads mitmproxy captures (ours, with ``flow.metadata["dspscope"]``, and
stock ``mitmdump -w`` ones without it).  Replay needs the whole decoded
message (namespaces, headers) and the raw bodies (images), which the JSON
record does not keep, so bodies are decoded here with ``wsdsp.decode``;
what our metadata already says (exchange or event, the device) is taken
from it, and computed the proxy's way for stock captures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from mitmproxy import http

from dspscope.addons.bodies import body_of
from dspscope.addons.metadata import METADATA_KEY, device_of
from dspscope.addons.record import CaptureError, read_capture
from dspscope.wsdsp.replay import Capture, Recorded, recorded


def recorded_of(flow: http.HTTPFlow, index: int) -> Recorded:
    """One flow as replay sees it."""
    req, resp = flow.request, flow.response
    meta = flow.metadata.get(METADATA_KEY)
    kind = meta.get("kind") if isinstance(meta, dict) else None
    rec = recorded(
        index=index,
        id=flow.id,
        device="",
        method=req.method,
        url=req.pretty_url,
        request_body=_body(req),
        request_content_type=req.headers.get("content-type"),
        status=resp.status_code if resp is not None else None,
        response_body=_body(resp) if resp is not None else None,
        response_content_type=resp.headers.get("content-type") if resp is not None else None,
        started=req.timestamp_start or flow.timestamp_created,
        sent=req.timestamp_end,
        answered=resp.timestamp_start if resp is not None else None,
        ended=resp.timestamp_end if resp is not None else None,
        kind=kind if kind in ("exchange", "event") else None,
    )
    device = meta.get("device") if isinstance(meta, dict) else None
    if not isinstance(device, str) or not device:
        device = device_of(flow, rec.kind)
    return replace(rec, device=device)


def _body(message: http.Message) -> bytes:
    # Within the proxy's bound: a compression bomb in a capture must not
    # inflate whole (mitmproxy's own get_content has no limit).
    content = body_of(message)
    return content if content is not None else b""


def recorded_flows(flows: Iterable[Any]) -> list[Recorded]:
    """The HTTP flows among ``flows`` (or ``Recorded`` items) as Recorded
    items numbered in the order their requests started.  Capture files hold
    flows in the order they completed; replay needs the order things began."""
    items: list[Recorded] = []
    for flow in flows:
        if isinstance(flow, Recorded):
            items.append(flow)
        elif isinstance(flow, http.HTTPFlow) and flow.request is not None:
            items.append(recorded_of(flow, len(items)))
    items.sort(key=lambda r: r.started)
    return [replace(r, index=i) for i, r in enumerate(items)]


def load_captures(paths: Sequence[str]) -> Capture:
    """Every HTTP flow of the given capture files, in the order they began.

    Raises CaptureError for a missing or damaged file."""
    flows: list[Any] = []
    for path in paths:
        flows.extend(read_capture(path))
    return Capture(recorded_flows(flows))


__all__ = ["CaptureError", "load_captures", "recorded_flows", "recorded_of"]
