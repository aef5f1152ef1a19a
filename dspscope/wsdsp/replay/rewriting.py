"""Rewriting recorded messages for a replay: new addressing, GUIDs (JobTokens
and other server-minted ids, in any form, also inside URLs) and URL origins
swapped, NotifyTo replaced; and the XPath match keys of ``--key``.  Messages
are rebuilt as values (``dataclasses.replace`` on the decoded Message), never
by editing their text: ``wsdsp.encode`` makes the bytes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree

from .. import names
from ..codec import encode
from ..errors import LocalProtocolError
from ..messages import Message
from ..values import new_message_id, normalize_guid

GUID_IN_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
DATETIME = re.compile(r"-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
ORIGIN = re.compile(r"https?://[^/\s?#]+", re.IGNORECASE)


def origin_of(url: str) -> str | None:
    """scheme://host:port of an absolute http(s) URL, lower case."""
    match = ORIGIN.match(url.strip())
    return match.group(0).lower() if match else None


@dataclass(slots=True)
class Rewriter:
    """Rewrites string values: GUIDs (in any form, also inside URLs) by
    ``guids`` (normalised -> new, normalised), then URL origins by
    ``origins`` (lower-case recorded origin -> new origin)."""

    guids: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def text(self, value: str) -> str:
        if self.guids and GUID_IN_TEXT.search(value):
            value = GUID_IN_TEXT.sub(self._guid, value)
        if self.origins:
            value = ORIGIN.sub(self._origin, value)
        return value

    def tree(self, node: Any) -> Any:
        return map_strings(node, self.text)

    def _guid(self, match: re.Match[str]) -> str:
        old = match.group(0)
        new = self.guids.get(old.lower())
        if new is None:
            return old
        return new.upper() if old.isupper() else new

    def _origin(self, match: re.Match[str]) -> str:
        old = match.group(0)
        return self.origins.get(old.lower(), old)


def map_strings(node: Any, fn: Callable[[str], str]) -> Any:
    """A copy of a decoded field tree with every string passed through fn."""
    if isinstance(node, Mapping):
        return {k: map_strings(v, fn) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [map_strings(v, fn) for v in node]
    if isinstance(node, str):
        return fn(node)
    return node


def rewrite(
    message: Message,
    rewriter: Rewriter,
    *,
    message_id: str | None = None,
    relates_to: str | None = None,
) -> Message:
    """A copy of ``message`` with new addressing and rewritten values.

    A header the original lacked stays absent (a replay reproduces the
    recorded peer's omissions); one it had gets ``message_id`` (fresh when
    None) and ``relates_to``."""
    token = message.job_token
    return replace(
        message,
        message_id=(message_id or new_message_id()) if message.message_id is not None else None,
        relates_to=relates_to if message.relates_to is not None else None,
        to=rewriter.text(message.to) if message.to else message.to,
        fields=rewriter.tree(message.fields),
        headers=rewriter.tree(message.headers),
        job_token=normalize_guid(rewriter.text(token)) if token else None,
        findings=(),
    )


def set_notify_to(message: Message, address: str) -> Message:
    """A Subscribe with its Delivery/NotifyTo/Address replaced."""
    fields = map_strings(message.fields, lambda s: s)
    body = fields.get("Subscribe")
    delivery = body.get("Delivery") if isinstance(body, dict) else None
    notify = delivery.get("NotifyTo") if isinstance(delivery, dict) else None
    if not isinstance(notify, dict) or "Address" not in notify:
        return message
    notify["Address"] = address
    return replace(message, fields=fields)


def notify_to(message: Message) -> str | None:
    """The event sink a WS-Eventing Subscribe names."""
    if message.protocol != "ws-eventing" or message.operation != "Subscribe":
        return None
    if message.kind != "request":
        return None
    delivery = message.body.get("Delivery")
    notify = delivery.get("NotifyTo") if isinstance(delivery, Mapping) else None
    address = notify.get("Address") if isinstance(notify, Mapping) else None
    return address.strip() if isinstance(address, str) and address.strip() else None


# ------------------------------------------------------------------ XPath keys


class Keys:
    """XPath expressions whose values must be equal for a live request to
    match a recorded one (``--key``).  Prefixes are the usual ones
    (dsp, psp, wsa, soap, ...); the expression sees the envelope as
    ``wsdsp.encode`` builds it, so the sender's prefixes do not matter."""

    def __init__(self, expressions: Sequence[str]) -> None:
        self.expressions = tuple(expressions)
        self._compiled: list[etree.XPath] = []
        for expr in self.expressions:
            try:
                self._compiled.append(etree.XPath(expr, namespaces=dict(names.PREFIXES)))
            except etree.XPathSyntaxError as exc:
                raise ValueError(f"bad XPath {expr!r}: {exc}") from None
        self._cache: dict[int, tuple[str, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._compiled)

    def values(self, message: Message, *, cache_key: int | None = None) -> tuple[str, ...]:
        if not self._compiled or message.protocol == "not-soap":
            return ()
        if cache_key is not None and cache_key in self._cache:
            return self._cache[cache_key]
        try:
            root = etree.fromstring(encode(replace(message, attachments=())).content)
        except (LocalProtocolError, etree.XMLSyntaxError):
            return ()
        out = tuple(_xpath_text(xp(root)) for xp in self._compiled)
        if cache_key is not None:
            self._cache[cache_key] = out
        return out


def _xpath_text(result: Any) -> str:
    if isinstance(result, list):
        return "|".join(_xpath_text(r) for r in result)
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float) and result.is_integer():
        return str(int(result))
    if isinstance(result, str | int | float):
        return str(result).strip()
    return " ".join("".join(result.itertext()).split())
