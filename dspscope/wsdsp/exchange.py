"""Checks of one request/response exchange: does the answer answer the
request (operation, MessageID, RelatesTo), and does its HTTP status fit what
it is (SOAP 1.2 HTTP binding)?  And MessageIDs across the capture: each
message its own, on either side.  Pure: the job tracker calls these for
every exchange and event it is fed, with the HTTP status when known.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

try:
    import orjson
except ImportError:  # a checkout whose environment predates the dependency
    orjson = None  # type: ignore[assignment]

from .codes import finding
from .messages import Finding, Message
from .values import normalize_guid


def check_exchange(request: Message, response: Message | None,
                   status: int | None = None) -> Iterator[Finding]:
    if response is None:
        return
    if request.protocol == "ws-dsp" and request.kind == "request" and response.protocol == "not-soap":
        what = f"HTTP {status} " if status else ""
        yield finding("http.not-soap-answer",
                      f"{request.operation} answered with {what}that is not a SOAP envelope "
                      f"({'empty body' if not response.findings else response.findings[0].code}); "
                      f"the server must answer with {request.operation}Response or a SOAP fault")
        return
    if response.kind == "fault" and response.fault is not None and status is not None:
        yield from _fault_status(response, status)
    if (request.message_id and response.message_id
            and normalize_guid(request.message_id) == normalize_guid(response.message_id)):
        yield finding("wsa.message-id-echoed",
                      f"the response's wsa:MessageID {response.message_id} is the request's own; "
                      "every message needs its own MessageID (the request's goes in RelatesTo)")
    if (request.protocol == "ws-dsp" and response.protocol == "ws-dsp" and response.kind == "response"
            and request.operation and response.operation and response.operation != request.operation):
        yield finding("wsa.response-mismatch",
                      f"{request.operation} answered with {response.operation}Response; "
                      f"expected {request.operation}Response or a fault")


def _fault_status(response: Message, status: int) -> Iterator[Finding]:
    fault = response.fault
    assert fault is not None
    if 200 <= status < 300:
        yield finding("http.fault-status-200",
                      f"a SOAP fault ({fault.subcode or fault.code}) sent with HTTP {status}; SOAP 1.2 "
                      "over HTTP sends a fault with 400 (Sender) or 500 (others), never a success status")
    elif fault.code == "Sender" and 500 <= status < 600:
        yield finding("http.sender-fault-5xx",
                      f"a Sender fault sent with HTTP {status}; SOAP 1.2 maps Sender faults to 400. "
                      "Only an info: WCF (the Windows scan server) answers every fault "
                      "with 500, and a device must cope with it")
    elif fault.code == "Receiver" and 400 <= status < 500:
        yield finding("http.receiver-fault-4xx",
                      f"a Receiver fault sent with HTTP {status}; SOAP 1.2 maps Receiver faults to 500 "
                      "(a 4xx tells the device its request was wrong, which a Receiver fault denies)")


class MessageIds:
    """The MessageIDs seen (bounded, oldest forgotten first): to match
    RelatesTo against requests, and to flag one MessageID on two different
    messages.  A message sent again unchanged (a device retrying after a
    fault, a server redelivering an event) keeps its MessageID: that is
    what WS-Addressing asks of a retransmission, and it stays quiet."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        #: request MessageID -> its operation (a resend repeats both)
        self._requests: OrderedDict[str, str | None] = OrderedDict()
        self._seen: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def __len__(self) -> int:
        return max(len(self._requests), len(self._seen))

    def remember_request(self, message_id: str, operation: str | None) -> bool:
        """Remember a request's MessageID; whether it is a resend (the same
        MessageID on the same operation before)."""
        key = normalize_guid(message_id)
        resent = key in self._requests and self._requests[key] == operation
        _put(self._requests, key, operation, self._limit)
        return resent

    def duplicate(self, message: Message, side: str) -> Iterator[Finding]:
        """``side`` is "device" or "server", for the text."""
        if not message.message_id or message.protocol == "not-soap":
            return
        key = normalize_guid(message.message_id)
        mark = _fingerprint(message)
        earlier = self._seen.get(key)
        _put(self._seen, key, (mark, message.operation or message.action or "?"), self._limit)
        if earlier is not None and earlier[0] != mark:
            yield finding("wsa.duplicate-message-id",
                          f"the {side} reused wsa:MessageID {message.message_id} (first on "
                          f"{earlier[1]}, now on a different {message.operation or 'message'}); each "
                          "message needs its own (only an unchanged resend may repeat it)")

    def relates(self, request: Message, response: Message) -> Iterator[Finding]:
        if not response.relates_to or response.protocol == "not-soap":
            return
        got = normalize_guid(response.relates_to)
        if request.message_id and got == normalize_guid(request.message_id):
            return
        if got not in self._requests:
            yield finding("wsa.relates-to-unmatched",
                          f"RelatesTo {response.relates_to} matches no request seen; it must be "
                          f"the MessageID of the request answered ({request.message_id})")
        else:
            yield finding("wsa.relates-to-mismatch",
                          f"RelatesTo {response.relates_to} answers another request, "
                          f"not {request.message_id}")


def _put(table: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)


def _fingerprint(message: Message) -> str:
    """What makes two messages the same message, MessageID aside."""
    value = [message.action, message.to, message.fields]
    data = None
    if orjson is not None:  # a fifth of the cost of following an exchange, with json
        try:
            data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                                default=str)
        except TypeError:  # text orjson refuses (lone surrogates): the same message, the same way
            pass
    if data is None:
        data = json.dumps(value, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=12).hexdigest()
