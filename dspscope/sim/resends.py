"""Requests the simulated server already processed, by MessageID, with the
answer they got: a device that never heard the answer (lost on the way, or
replaced by a proxy's fault rule) sends the same request again, and a
server that is kind to retries answers it as before instead of doing the
work twice (WS-Addressing: a MessageID identifies one message, so a
message with a MessageID already seen is that message again).  Pure."""

from __future__ import annotations

from collections import OrderedDict

from dspscope.wsdsp import Message
from dspscope.wsdsp.values import normalize_guid

#: Operations whose work must not be done twice.
STATEFUL = frozenset({"CreatePostScanJob", "SendImage", "EndPostScanJob", "CancelPostScanJob"})


class Answered:
    """The last ``limit`` successful answers to stateful WS-DSP requests."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._answers: OrderedDict[str, Message] = OrderedDict()

    @staticmethod
    def _key(request: Message) -> str | None:
        if request.protocol != "ws-dsp" or request.operation not in STATEFUL:
            return None
        return normalize_guid(request.message_id) if request.message_id else None

    def get(self, request: Message) -> Message | None:
        """The answer ``request`` got before, if it is a resend."""
        key = self._key(request)
        return self._answers.get(key) if key is not None else None

    def keep(self, request: Message, answer: Message) -> None:
        key = self._key(request)
        if key is None or answer.kind != "response":
            return  # a fault is no work done: a retry is processed afresh
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.limit:
            self._answers.popitem(last=False)
