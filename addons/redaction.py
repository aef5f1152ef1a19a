"""Shareable captures: every HTTP flow of a capture with its personal data
replaced by ``wsdsp.redact`` (bodies, the bodies a rule replaced, decoded
metadata, URLs, header values) and its credentials removed (Authorization,
cookies, the client's certificate).

    flows = redacted(lambda: read_capture(path))   # two passes over the capture

The first pass learns every personal value of the capture, so a value seen
first in a late event is replaced in an early request's free text too; the
second yields the redacted flows (the same flow ids).  Flows that are not
HTTP cannot be redacted and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mitmproxy import http
from mitmproxy.flow import Flow

from dspscope.addons.bodies import body_of
from dspscope.addons.metadata import METADATA_KEY
from dspscope.wsdsp.redact import Redactor, blank

#: Header values that are credentials: replaced whatever they hold.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie",
                            "www-authenticate", "proxy-authenticate"})
#: Header values that describe the body: rewritten with it, never scrubbed.
BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "transfer-encoding"})
REDACTED = "redacted"


def redacted(flows: Callable[[], Iterable[Flow]], redactor: Redactor | None = None) -> Iterator[http.HTTPFlow]:
    """The HTTP flows of ``flows()`` redacted; ``flows`` is called twice."""
    redactor = redactor or Redactor()
    for flow in flows():
        if isinstance(flow, http.HTTPFlow):
            learn_flow(redactor, flow)
    for flow in flows():
        if isinstance(flow, http.HTTPFlow):
            yield redact_flow(redactor, flow)


def learn_flow(redactor: Redactor, flow: http.HTTPFlow) -> None:
    for message in (flow.request, flow.response):
        if message is not None:
            body = body_of(message)
            if body:
                redactor.learn_body(body, message.headers.get("content-type"))
    redactor.learn(_plain(flow.metadata))


def redact_flow(redactor: Redactor, flow: http.HTTPFlow) -> http.HTTPFlow:
    """``flow`` redacted in place (and returned)."""
    request = flow.request
    request.path = redactor.text(request.path)
    for message in (request, flow.response):
        if message is not None:
            _redact_message(redactor, message)
    meta = flow.metadata.get(METADATA_KEY)
    originals = meta.get("original") if isinstance(meta, dict) else None
    flow.metadata = {key: _redact_value(redactor, value) for key, value in flow.metadata.items()}
    if isinstance(originals, dict):
        flow.metadata[METADATA_KEY]["original"] = {
            side: _redact_original(redactor, flow, side, body) for side, body in originals.items()}
    if flow.error is not None:
        flow.error.msg = redactor.text(flow.error.msg)
    flow.comment = redactor.text(flow.comment)
    # A device presenting the user's certificate (strong authentication)
    # hands over the user's name and address with it.
    flow.client_conn.certificate_list = []
    return flow


def _redact_message(redactor: Redactor, message: http.Message) -> None:
    for name in list(message.headers):
        lower = name.lower()
        if lower in SECRET_HEADERS:
            message.headers[name] = REDACTED
        elif lower not in BODY_HEADERS:
            message.headers[name] = redactor.text(message.headers[name])
    raw = message.raw_content
    if not raw:
        return
    body = body_of(message)
    if body is None:  # an encoding we do not undo: nothing in it can be read, or kept
        message.raw_content = blank(len(raw))
        return
    result = redactor.body(body, message.headers.get("content-type"))
    message.headers.pop("content-encoding", None)
    message.raw_content = result.content
    if result.content_type is not None:
        message.headers["content-type"] = result.content_type
    if "content-length" in message.headers:
        message.headers["content-length"] = str(len(result.content))


def _redact_original(redactor: Redactor, flow: http.HTTPFlow, side: str, body: Any) -> Any:
    if not isinstance(body, bytes):
        return _redact_value(redactor, body)
    message = flow.response if side == "response" else flow.request
    content_type = message.headers.get("content-type") if message is not None else None
    return redactor.body(body, content_type).content if body else body


def _redact_value(redactor: Redactor, value: Any) -> Any:
    """Metadata: JSON-like values redacted, any bytes in it emptied."""
    return redactor.data(_without_bytes(value, b""))


def _plain(value: Any) -> Any:
    return _without_bytes(value, None)


def _without_bytes(value: Any, stand_in: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_bytes(v, stand_in) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_bytes(v, stand_in) for v in value]
    return stand_in if isinstance(value, bytes) else value
