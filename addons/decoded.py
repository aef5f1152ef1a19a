"""The decoded messages of each flow, decoded once and shared by the addons.

``Decode`` (decode.py) fills this as bodies arrive; later addons
(addresses, events, the rules addon) and ``Track`` read it with
``message(flow, "request"|"response")`` instead of parsing again.  A body
that was replaced since it was decoded (its ``raw_content`` is another
object) is decoded again on the next call; nothing else is ever decoded
twice.

Attachments are hashed once, from the final body, off the hot path: while
a request is on its way the addons need no sha256, so ``message`` leaves it
empty; ``prefetch_hashes`` (called by ``Track.request``, the last request
hook) starts decoding and hashing a large final body in a worker thread
while the server reads it, and ``hashed_async`` (``Decode.response``, the
first response hook) collects the result, so the metadata carries every
sha256.  ``hashed(flow, side)`` does the same at once for readers of saved
flows.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from dataclasses import dataclass, field, replace
from typing import Literal

from mitmproxy import http

from dspscope.addons.bodies import DECODED_LIMIT, OFF_LOOP_BYTES, SNIFF_LIMIT, body_of, looks_xml
from dspscope.wsdsp import Message, decode
from dspscope.wsdsp.codes import finding
from dspscope.wsdsp.mtom import split

logger = logging.getLogger(__name__)

Side = Literal["request", "response"]
#: Bodies above this size are decoded in a worker thread, so that hashing a
#: scanned image does not stall every other connection of the proxy (see
#: ``bodies.OFF_LOOP_BYTES`` for why smaller ones are not).
THREAD_THRESHOLD = OFF_LOOP_BYTES
#: Final request bodies above this size are hashed in a worker thread while
#: the server reads them (hashing 1 MB takes ~0.5 ms, 200 MB ~0.1 s).
PREFETCH_THRESHOLD = OFF_LOOP_BYTES
NOT_SOAP = Message(protocol="not-soap")


@dataclass(slots=True)
class Decoded:
    """The decoded messages of one flow, and the body objects they came from."""

    request: Message | None = None
    response: Message | None = None
    request_raw: bytes | None = None
    response_raw: bytes | None = None
    #: Set by the events addon on an event it relayed to the device's sink.
    relayed_to: str | None = None
    done: bool = False
    errors: list[str] = field(default_factory=list)
    #: The hashed decode of a final body being made in a worker thread: (body, future).
    pending: dict[str, tuple[bytes, asyncio.Future[Message]]] = field(default_factory=dict)


_registry: weakref.WeakKeyDictionary[http.HTTPFlow, Decoded] = weakref.WeakKeyDictionary()


def state_of(flow: http.HTTPFlow) -> Decoded:
    """The decoded state of ``flow`` (created empty on first use).  Held
    weakly: it goes away with the flow."""
    state = _registry.get(flow)
    if state is None:
        state = _registry[flow] = Decoded()
    return state



def _decode_side(msg: http.Message | None, request: Message | None, hashed: bool = False) -> Message:
    if msg is None:
        return NOT_SOAP
    content_type = msg.headers.get("content-type")
    raw = msg.raw_content
    if raw is not None and len(raw) > SNIFF_LIMIT and not looks_xml(content_type):
        return NOT_SOAP
    body = body_of(msg)
    if body is None and raw:
        coding = msg.headers.get("content-encoding", "")
        return Message(protocol="not-soap", findings=(finding(
            "http.not-decompressed",
            f"Content-Encoding {coding!r} not undone (over {DECODED_LIMIT >> 20} MB, damaged, "
            "or not gzip, deflate or zstd); the body passed undecoded"),))
    if not body:
        return NOT_SOAP
    return decode(body, content_type, request=request, hash_attachments=hashed)


def _inputs(flow: http.HTTPFlow, side: Side) -> tuple[http.Message | None, Message | None]:
    if side == "request":
        return flow.request, None
    return flow.response, message(flow, "request")


def _is_current(state: Decoded, flow: http.HTTPFlow, side: Side) -> bool:
    msg = flow.request if side == "request" else flow.response
    current = msg.raw_content if msg is not None else None
    if side == "request":
        return state.request is not None and state.request_raw is current
    return state.response is not None and state.response_raw is current


def _store(state: Decoded, flow: http.HTTPFlow, side: Side, message: Message) -> Message:
    msg = flow.request if side == "request" else flow.response
    raw = msg.raw_content if msg is not None else None
    if side == "request":
        state.request, state.request_raw = message, raw
    else:
        state.response, state.response_raw = message, raw
    return message


def message(flow: http.HTTPFlow, side: Side) -> Message:
    """The decoded request or response of ``flow``; decodes only if the body
    has not been decoded yet or was replaced since."""
    state = state_of(flow)
    if _is_current(state, flow, side):
        found = state.request if side == "request" else state.response
        assert found is not None
        return found
    return _store(state, flow, side, _decode_side(*_inputs(flow, side)))


async def message_async(flow: http.HTTPFlow, side: Side) -> Message:
    """``message`` with large bodies decoded in a worker thread."""
    state = state_of(flow)
    if _is_current(state, flow, side):
        return message(flow, side)
    msg = flow.request if side == "request" else flow.response
    raw = msg.raw_content if msg is not None else None
    # An encoded body may inflate a hundredfold: undo it off the event loop.
    encoded = msg is not None and len(raw or b"") > SNIFF_LIMIT and "content-encoding" in msg.headers
    if raw is None or (len(raw) < THREAD_THRESHOLD and not encoded):
        return message(flow, side)
    result = await asyncio.to_thread(_decode_side, *_inputs(flow, side))
    return _store(state, flow, side, result)


def keep_decoded(flow: http.HTTPFlow, side: Side, message: Message,
                 moved: tuple[int, int] | None = None) -> bool:
    """An addon replaced a body and knows what the new body decodes to (an
    address rewritten in the XML): store ``message`` as its decode, with its
    attachments' spans found again in the new body, instead of decoding it
    once more.  ``moved`` = (end of the changed bytes in the old body, by how
    much what followed them moved) saves searching the new body for the
    parts.  False (nothing stored) if the parts do not line up."""
    msg = flow.request if side == "request" else flow.response
    if msg is None or msg.raw_content is None:
        return False
    if message.attachments and moved is not None:
        end, delta = moved
        spans = [a.span for a in message.attachments]
        if all(stop <= end or start >= end for start, stop in spans):
            message = replace(message, attachments=tuple(
                replace(a, span=(a.span[0] + delta, a.span[1] + delta)) if a.span[0] >= end else a
                for a in message.attachments))
            _store(state_of(flow), flow, side, message)
            return True
    if message.attachments:
        body = body_of(msg)
        content_type = msg.headers.get("content-type")
        if body is None or not content_type:
            return False
        parts = split(body, content_type)
        others = parts.attachments
        if len(others) != len(message.attachments) or any(
                p.end - p.start != a.size for p, a in zip(others, message.attachments, strict=True)):
            return False
        message = replace(message, attachments=tuple(
            replace(a, span=(p.start, p.end)) for p, a in zip(others, message.attachments, strict=True)))
    _store(state_of(flow), flow, side, message)
    return True


def _unhashed(message: Message) -> bool:
    return any(not a.sha256 for a in message.attachments)


def _digested(message: Message, body: bytes | None) -> Message:
    """``message`` with the sha256 of each attachment, from the body it was
    decoded from (the spans say where; nothing is decoded again)."""
    if body is None or not _unhashed(message):
        return message
    attachments = tuple(
        a if a.sha256 else replace(a, sha256=hashlib.sha256(a.data(body)).hexdigest())
        for a in message.attachments)
    return replace(message, attachments=attachments)


def _hashed_now(flow: http.HTTPFlow, side: Side) -> Message:
    """The current body of one side, decoded if need be, attachments hashed
    (safe in a worker thread: decoding here stores nothing)."""
    state = state_of(flow)
    msg = flow.request if side == "request" else flow.response
    if _is_current(state, flow, side):
        found = state.request if side == "request" else state.response
        assert found is not None
        return _digested(found, body_of(msg) if msg is not None else None)
    return _decode_side(*_inputs(flow, side), hashed=True)


def hashed(flow: http.HTTPFlow, side: Side) -> Message:
    """``message`` with the sha256 of every attachment (computed now if need be)."""
    found = message(flow, side)
    if not _unhashed(found):
        return found
    return _store(state_of(flow), flow, side, _hashed_now(flow, side))


def prefetch_hashes(flow: http.HTTPFlow) -> None:
    """Start hashing (and decoding, if it was replaced) a large final
    request body in a worker thread (call from the event loop, once no
    addon will change the body)."""
    raw = flow.request.raw_content
    if raw is None or len(raw) < PREFETCH_THRESHOLD:
        return
    state = state_of(flow)
    if _is_current(state, flow, "request") and state.request is not None \
            and not _unhashed(state.request):
        return
    future = asyncio.ensure_future(asyncio.to_thread(_hashed_now, flow, "request"))
    state.pending["request"] = (raw, future)


async def hashed_async(flow: http.HTTPFlow, side: Side) -> Message:
    """``hashed`` with large bodies done in a worker thread (or by the
    thread ``prefetch_hashes`` started)."""
    state = state_of(flow)
    msg = flow.request if side == "request" else flow.response
    raw = msg.raw_content if msg is not None else None
    pending = state.pending.pop(side, None)
    if pending is not None and pending[0] is raw:
        return _store(state, flow, side, await pending[1])
    found = await message_async(flow, side)
    if not _unhashed(found):
        return found
    if raw is not None and len(raw) >= PREFETCH_THRESHOLD:
        result = await asyncio.to_thread(_hashed_now, flow, side)
    else:
        result = _hashed_now(flow, side)
    return _store(state, flow, side, result)


def report_error(flow: http.HTTPFlow, where: str, exc: BaseException) -> None:
    """Count and log a failure of ours; the flow itself is left alone."""
    text = f"{where}: {exc!r}"
    state_of(flow).errors.append(text)
    logger.warning("dspscope %s failed for %s %s: %r", where, flow.request.method,
                   flow.request.pretty_url, exc)
