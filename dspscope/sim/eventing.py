"""WS-Eventing subscriptions of the simulated server: Subscribe, Renew,
GetStatus, Unsubscribe, expiry.  Pure; delivery lives in ``push``.

Expiry is an xs:duration (``PT1H``) or an xs:dateTime; the server grants at
most ``MAX_EXPIRY`` and answers in the form the subscriber used.  A
subscription belongs to the device (peer address) that made it: events of
a job go to the subscriptions of the device that created the job.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dspscope.sim.errors import ProtocolFault
from dspscope.wsdsp import Message
from dspscope.wsdsp.names import DPWS_ACTION_FILTER, WSA, WSE
from dspscope.wsdsp.values import new_message_id

MAX_EXPIRY = dt.timedelta(hours=24)
DEFAULT_EXPIRY = dt.timedelta(hours=1)
MAX_SUBSCRIPTIONS = 1000

_DURATION = re.compile(
    r"(?P<sign>-)?P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(text: str) -> dt.timedelta | None:
    """An xs:duration as a timedelta (a year is 365 days, a month 30), or None."""
    match = _DURATION.fullmatch(text.strip())
    if not match or text.strip() in ("P", "-P") or text.strip().endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v and k != "sign"}
    days = parts.get("years", 0) * 365 + parts.get("months", 0) * 30 + parts.get("days", 0)
    delta = dt.timedelta(
        days=days,
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )
    return -delta if match.group("sign") else delta


def format_duration(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or text == "PT" else "")


def parse_datetime(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _fault(
    subcode: str, reason: str, *, code: str = "Sender", namespace: str = WSE
) -> ProtocolFault:
    return ProtocolFault(reason, subcode=subcode, code=code, namespace=namespace, detail=reason)


def unknown_subscription(identifier: str | None) -> ProtocolFault:
    return _fault(
        "DestinationUnreachable",
        f"no subscription {identifier or '(no Identifier header)'}",
        namespace=WSA,
    )


@dataclass(slots=True)
class Subscription:
    identifier: str
    owner: str
    notify_to: str
    expires: dt.datetime
    as_duration: bool
    actions: frozenset[str] | None  # None: every event
    delivered: int = 0
    failures: int = 0

    def wants(self, action: str) -> bool:
        return self.actions is None or action in self.actions

    def expires_text(self, now: dt.datetime) -> str:
        if self.as_duration:
            return format_duration(self.expires - now)
        return self.expires.isoformat(timespec="seconds").replace("+00:00", "Z")


class Subscriptions:
    """The subscription manager's book."""

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self.clock = clock
        self.active: dict[str, Subscription] = {}

    def subscribe(self, request: Message, owner: str) -> Subscription:
        body = request.body
        delivery = body.get("Delivery")
        notify = delivery.get("NotifyTo") if isinstance(delivery, Mapping) else None
        address = notify.get("Address") if isinstance(notify, Mapping) else None
        if not isinstance(address, str) or urlsplit(address.strip()).scheme not in (
            "http",
            "https",
        ):
            raise _fault(
                "DeliveryModeRequestedUnavailable",
                "Delivery/NotifyTo/Address must be an http(s) URL",
            )
        expires, as_duration = self._expiry(body.get("Expires"))
        actions = _actions(body.get("Filter"))
        self._drop_expired()
        if len(self.active) >= MAX_SUBSCRIPTIONS:
            raise _fault("EventSourceUnableToProcess", "too many subscriptions", code="Receiver")
        sub = Subscription(new_message_id(), owner, address.strip(), expires, as_duration, actions)
        self.active[sub.identifier] = sub
        return sub

    def renew(self, request: Message) -> Subscription:
        sub = self._find(
            request,
            fault=lambda i: _fault("UnableToRenew", f"no subscription {i}", code="Receiver"),
        )
        sub.expires, sub.as_duration = self._expiry(request.body.get("Expires"))
        return sub

    def status(self, request: Message) -> Subscription:
        return self._find(request)

    def unsubscribe(self, request: Message) -> Subscription:
        sub = self._find(request)
        del self.active[sub.identifier]
        return sub

    def for_owner(self, owner: str, action: str) -> Iterator[Subscription]:
        self._drop_expired()
        for sub in list(self.active.values()):
            if sub.owner == owner and sub.wants(action):
                yield sub

    def drop(self, sub: Subscription) -> None:
        self.active.pop(sub.identifier, None)

    # ----------------------------------------------------------- internals

    def _find(
        self, request: Message, fault: Callable[[str | None], ProtocolFault] = unknown_subscription
    ) -> Subscription:
        identifier = request.headers.get("Identifier")
        text = identifier.strip() if isinstance(identifier, str) else None
        self._drop_expired()
        sub = self.active.get(text or "")
        if sub is None:
            raise fault(text)
        return sub

    def _expiry(self, value: Any) -> tuple[dt.datetime, bool]:
        now = self.clock()
        if value is None or value == "":
            return now + DEFAULT_EXPIRY, True
        text = value if isinstance(value, str) else ""
        delta = parse_duration(text)
        if delta is not None:
            if delta <= dt.timedelta(0):
                raise _fault("InvalidExpirationTime", f"Expires {text!r} is not in the future")
            return now + min(delta, MAX_EXPIRY), True
        moment = parse_datetime(text)
        if moment is None or moment <= now:
            raise _fault(
                "InvalidExpirationTime", f"Expires {text!r} is neither a duration nor a future time"
            )
        return min(moment, now + MAX_EXPIRY), False

    def _drop_expired(self) -> None:
        now = self.clock()
        for key in [k for k, s in self.active.items() if s.expires <= now]:
            del self.active[key]


def _actions(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        dialect = value.get("@Dialect")
        text = value.get("#text", "")
    else:
        dialect, text = DPWS_ACTION_FILTER, value
    if dialect != DPWS_ACTION_FILTER:
        raise _fault(
            "FilteringRequestedUnavailable",
            f"filter dialect {dialect!r} is not the DPWS action filter",
        )
    actions = frozenset(str(text).split())
    if not actions:
        raise _fault("FilteringRequestedUnavailable", "the action filter lists no action")
    return actions
