"""Decode every HTTP exchange once, follow jobs, and record the verdict in
``flow.metadata["dspscope"]`` (saved with the flow).

Two addons share this module because they sit at both ends of the chain:
``Decode`` runs first and decodes each body as it arrives, so that later
addons (addresses, events, the rules addon) read the decoded Message instead
of parsing again; ``Track`` runs last, after anything that may have rewritten
a body, feeds the job tracker and writes the metadata.

Other addons get the decoded messages with ``decoded(flow)`` or
``message(flow, "request"|"response")``.  A body that was replaced since it
was decoded (its ``raw_content`` is another object) is decoded again on the
next call; nothing else is ever decoded twice.

Attachments are hashed once, from the final body, off the hot path: while
a request is on its way the addons need no sha256, so ``message`` leaves it
empty; ``Track.request`` (the last request hook) starts decoding and hashing
a large final body in a worker thread while the server reads it, and
``Decode.response`` (the first response hook) collects the result, so the
metadata carries every sha256.  ``hashed(flow, side)`` does the same at once
for readers of saved flows.

The proxy fails open: an exception here is logged and counted, and the flow
goes on untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import time
import weakref
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from mitmproxy import ctx, http

from dspscope.wsdsp import Finding, Message, decode
from dspscope.wsdsp.jobs import JobTracker, Observation
from dspscope.wsdsp.mtom import content_type_params, split

logger = logging.getLogger(__name__)

Side = Literal["request", "response"]
METADATA_KEY = "dspscope"
METADATA_VERSION = 1
#: Bodies above this size are decoded in a worker thread, so that hashing a
#: scanned image does not stall every other connection of the proxy.
THREAD_THRESHOLD = 1 << 20
#: Final request bodies above this size are hashed in a worker thread while
#: the server reads them (hashing 1 MB takes ~2 ms, 200 MB ~0.5 s).
PREFETCH_THRESHOLD = 256 * 1024
#: Bodies above this size whose Content-Type says they are not XML are not
#: decompressed or parsed (firmware images, web UI assets).
SNIFF_LIMIT = 64 * 1024
#: A Content-Encoding is undone only up to this many bytes: a 1 MB gzip bomb
#: would otherwise become 1 GB in the proxy's memory.  Larger bodies pass
#: untouched but are not decoded.
DECODED_LIMIT = 64 * 1024 * 1024
_XML_MEDIA = ("application/soap+xml", "text/xml", "application/xml", "multipart/related",
              "application/xop+xml")
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


def decoded(flow: http.HTTPFlow) -> Decoded:
    """The decoded state of ``flow`` (created empty on first use).  Held
    weakly: it goes away with the flow."""
    state = _registry.get(flow)
    if state is None:
        state = _registry[flow] = Decoded()
    return state


def body_of(msg: http.Message) -> bytes | None:
    """The body to decode: ``raw_content`` itself (no copy) unless a
    Content-Encoding must be undone first; None when it is not undone (over
    DECODED_LIMIT, or an encoding other than gzip, deflate and zstd)."""
    raw = msg.raw_content
    if raw is None:
        return None
    coding = msg.headers.get("content-encoding")
    if not coding:
        return raw
    if len(raw) > SNIFF_LIMIT and not _looks_xml(msg.headers.get("content-type")):
        return None
    return decompress(raw, coding)


def decompress(raw: bytes, coding: str, limit: int = DECODED_LIMIT) -> bytes | None:
    """``raw`` with its Content-Encoding undone, or None if the result would
    be over ``limit`` bytes, the data is damaged, or the coding is not one we
    undo within bounds (mitmproxy's own decoding has no bound, and hands
    unknown names such as "bz2" to Python's codecs)."""
    coding = coding.strip().lower()
    if coding in ("identity", "none"):
        return raw
    try:
        if coding in ("gzip", "x-gzip", "deflate"):
            return _inflate(raw, coding, limit)
        if coding == "zstd":
            import zstandard

            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)) as reader:
                out = reader.read(limit + 1)
            return out if len(out) <= limit else None
    except Exception as exc:  # noqa: BLE001 - zlib.error, zstandard.ZstdError: damaged data
        logger.debug("cannot undo %s: %r", coding, exc)
    return None


def _inflate(raw: bytes, coding: str, limit: int) -> bytes | None:
    # gzip may hold several members; "deflate" is zlib-wrapped or, from
    # some servers, raw.
    wbits = 16 + zlib.MAX_WBITS if coding != "deflate" else zlib.MAX_WBITS
    if coding == "deflate" and raw[:1] and (raw[0] & 0x0F) != 8:
        wbits = -zlib.MAX_WBITS
    out = bytearray()
    data = raw
    while data:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail or not inflater.eof:
            return None  # too large, or cut short
        data = inflater.unused_data if wbits > 16 + 8 else b""
    return bytes(out)


def _looks_xml(content_type: str | None) -> bool:
    if not content_type:
        return True
    media, _ = content_type_params(content_type)
    return media in _XML_MEDIA or media.endswith("+xml")


def _decode_side(msg: http.Message | None, request: Message | None, hashed: bool = False) -> Message:
    if msg is None:
        return NOT_SOAP
    content_type = msg.headers.get("content-type")
    raw = msg.raw_content
    if raw is not None and len(raw) > SNIFF_LIMIT and not _looks_xml(content_type):
        return NOT_SOAP
    body = body_of(msg)
    if body is None and raw:
        coding = msg.headers.get("content-encoding", "")
        return Message(protocol="not-soap", findings=(Finding(
            "warning", "http.not-decompressed",
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
    state = decoded(flow)
    if _is_current(state, flow, side):
        found = state.request if side == "request" else state.response
        assert found is not None
        return found
    return _store(state, flow, side, _decode_side(*_inputs(flow, side)))


async def message_async(flow: http.HTTPFlow, side: Side) -> Message:
    """``message`` with large bodies decoded in a worker thread."""
    state = decoded(flow)
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
            _store(decoded(flow), flow, side, message)
            return True
    if message.attachments:
        body = body_of(msg)
        content_type = msg.headers.get("content-type")
        if body is None or not content_type:
            return False
        parts = split(body, content_type)
        others = [p for p in parts.parts if p is not parts.root]
        if len(others) != len(message.attachments) or any(
                p.end - p.start != a.size for p, a in zip(others, message.attachments, strict=True)):
            return False
        message = replace(message, attachments=tuple(
            replace(a, span=(p.start, p.end)) for p, a in zip(others, message.attachments, strict=True)))
    _store(decoded(flow), flow, side, message)
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
    state = decoded(flow)
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
    return _store(decoded(flow), flow, side, _hashed_now(flow, side))


def prefetch_hashes(flow: http.HTTPFlow) -> None:
    """Start hashing (and decoding, if it was replaced) a large final
    request body in a worker thread (call from the event loop, once no
    addon will change the body)."""
    raw = flow.request.raw_content
    if raw is None or len(raw) < PREFETCH_THRESHOLD:
        return
    state = decoded(flow)
    if _is_current(state, flow, "request") and state.request is not None \
            and not _unhashed(state.request):
        return
    future = asyncio.ensure_future(asyncio.to_thread(_hashed_now, flow, "request"))
    state.pending["request"] = (raw, future)


async def hashed_async(flow: http.HTTPFlow, side: Side) -> Message:
    """``hashed`` with large bodies done in a worker thread (or by the
    thread ``prefetch_hashes`` started)."""
    state = decoded(flow)
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
    decoded(flow).errors.append(text)
    logger.warning("dspscope %s failed for %s %s: %r", where, flow.request.method,
                   flow.request.pretty_url, exc)


class Decode:
    """Decodes each request and response as it arrives."""

    name = "dspscope_decode"

    def __init__(self) -> None:
        self.errors = 0

    async def request(self, flow: http.HTTPFlow) -> None:
        await self._decode(flow, "request")

    async def response(self, flow: http.HTTPFlow) -> None:
        await self._hash_request(flow)
        await self._decode(flow, "response", hashed=True)

    async def error(self, flow: http.HTTPFlow) -> None:
        await self._hash_request(flow)

    async def _hash_request(self, flow: http.HTTPFlow) -> None:
        # The request is final now: its attachments get their sha256 (unless
        # decoding it failed already: that was reported once).
        if decoded(flow).request is not None:
            await self._decode(flow, "request", hashed=True)

    async def _decode(self, flow: http.HTTPFlow, side: Side, hashed: bool = False) -> None:
        try:
            if hashed:
                await hashed_async(flow, side)
            else:
                await message_async(flow, side)
        except Exception as exc:  # noqa: BLE001 - fail open
            self.errors += 1
            report_error(flow, f"decode {side}", exc)


# ----------------------------------------------------------------- metadata


def device_of(flow: http.HTTPFlow, kind: str) -> str:
    """The device's address: the client of an exchange, the destination of
    an event (the server is the client there)."""
    if kind == "event":
        return flow.request.host
    peer = flow.client_conn.peername
    return str(peer[0]) if peer else ""


def analyze(
    flow: http.HTTPFlow,
    tracker: JobTracker,
    request: Message,
    response: Message | None,
) -> tuple[dict[str, Any], Observation]:
    """The metadata of one finished flow, feeding ``tracker`` on the way.

    Pure apart from the tracker: the live proxy and offline readers of
    stock captures both call this, so both write the same shape."""
    kind = "event" if request.kind == "event" else "exchange"
    device = device_of(flow, kind)
    stamp = flow.request.timestamp_start or flow.timestamp_created
    if kind == "event":
        seen = tracker.event(request, exchange_id=flow.id, time=stamp)
    else:
        seen = tracker.exchange(request, response, device=device, exchange_id=flow.id, time=stamp)
    first = request if request.protocol != "not-soap" or response is None else response
    findings = [f.to_json() for f in request.findings]
    if response is not None:
        findings.extend(f.to_json() for f in response.findings)
    findings.extend(f.to_json() for f in seen.findings)
    job_token = request.job_token or (response.job_token if response is not None else None)
    if job_token is None and seen.job is not None:
        job_token = seen.job.token
    meta = {
        "version": METADATA_VERSION,
        "kind": kind,
        "protocol": first.protocol,
        "operation": request.operation or (response.operation if response is not None else None),
        "job_token": job_token,
        "device": device,
        "request": request.to_json(),
        "response": response.to_json() if response is not None else None,
        "findings": findings,
        "error": None,
    }
    return meta, seen


def write_metadata(flow: http.HTTPFlow, meta: dict[str, Any]) -> dict[str, Any]:
    """Merge ``meta`` into the flow's metadata, keeping what other addons
    added (rules applied, original bodies, address rewrites)."""
    current = flow.metadata.get(METADATA_KEY)
    merged = dict(current) if isinstance(current, dict) else {}
    merged.update(meta)
    merged.setdefault("rules", [])
    flow.metadata[METADATA_KEY] = merged
    return merged


def note_rewrite(flow: http.HTTPFlow, side: Side, what: str, before: str, after: str) -> None:
    """Record in the metadata that the proxy itself changed a body (address
    rewriting; rules record theirs under "rules")."""
    meta = flow.metadata.setdefault(METADATA_KEY, {})
    meta.setdefault("rewrites", []).append(
        {"side": side, "what": what, "from": before, "to": after})


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
        state = decoded(flow)
        if state.done:
            return
        state.done = True
        self.exchanges += 1
        try:
            request = hashed(flow, "request")  # done by Decode already, unless it is absent
            response = hashed(flow, "response") if flow.response is not None else None
            meta, _ = analyze(flow, self.tracker, request, response)
        except Exception as exc:  # noqa: BLE001 - fail open
            self.errors += 1
            report_error(flow, "track", exc)
            meta = {"version": METADATA_VERSION, "kind": "exchange", "protocol": None,
                    "operation": None, "job_token": None, "device": device_of(flow, "exchange"),
                    "request": None, "response": None, "findings": []}
        meta["error"] = "; ".join(state.errors) or None
        write_metadata(flow, meta)
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
