"""Typed, frozen results of decoding: Message, Fault, Attachment, Finding.

A Message is what one HTTP body says, decoded; it never holds the raw bytes
(attachments carry their byte span in the original body instead, so an
image is never copied by decoding).  ``Message.to_json()`` is the public JSON
contract documented in the README.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
Protocol = Literal["ws-dsp", "ws-scan", "ws-eventing", "ws-transfer", "ws-discovery", "soap", "not-soap"]
Kind = Literal["request", "response", "fault", "event", "unknown"]

SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One conformance observation.  ``code`` is stable across releases."""

    severity: Severity
    code: str
    text: str
    ref: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_ORDER:
            raise ValueError(f"severity must be error, warning or info, not {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity, "code": self.code, "text": self.text}
        if self.ref:
            out["ref"] = self.ref
        return out


@dataclass(frozen=True, slots=True)
class Fault:
    """A SOAP fault.  ``code`` and ``subcode`` are local names ("Sender",
    "InvalidArgs"); the subcode's namespace is kept beside it."""

    code: str
    subcode: str | None = None
    reason: str | None = None
    detail: str | None = None
    subcode_namespace: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "subcode": self.subcode,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Attachment:
    """A MIME part referenced from the envelope (or left unreferenced).

    ``span`` is (start, end) of the part's bytes in the body given to decode,
    so a caller can take a view of the image without decoding copying it."""

    content_id: str
    content_type: str | None
    size: int
    sha256: str
    sniffed_format: str | None
    span: tuple[int, int]
    referenced: bool = True

    def data(self, body: bytes | memoryview) -> memoryview:
        start, end = self.span
        return memoryview(body)[start:end]

    def to_json(self) -> dict[str, Any]:
        return {
            "content_id": self.content_id,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "format": self.sniffed_format,
            "referenced": self.referenced,
        }


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded SOAP message (or the verdict that a body is not one).

    ``fields`` maps the body element's local name to its decoded content;
    ``headers`` does the same for header blocks other than WS-Addressing's.
    ``namespaces`` records, by element path, every place where an element's
    namespace differs from its parent's, so that encode() rebuilds the same
    XML, vendor extensions included.
    """

    protocol: Protocol
    kind: Kind = "unknown"
    operation: str | None = None
    action: str | None = None
    message_id: str | None = None
    relates_to: str | None = None
    to: str | None = None
    reply_to: str | None = None
    job_token: str | None = None
    soap_version: str | None = None
    addressing: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, Any] = field(default_factory=dict)
    namespaces: Mapping[str, str] = field(default_factory=dict)
    fault: Fault | None = None
    attachments: tuple[Attachment, ...] = ()
    extensions: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def body_name(self) -> str | None:
        """Local name of the body element, if there is one."""
        return next(iter(self.fields), None)

    @property
    def body(self) -> Mapping[str, Any]:
        """The decoded content of the body element ({} when absent or a leaf)."""
        name = self.body_name
        value = self.fields.get(name) if name else None
        return value if isinstance(value, Mapping) else {}

    @property
    def worst_severity(self) -> Severity | None:
        if not self.findings:
            return None
        return min((f.severity for f in self.findings), key=SEVERITY_ORDER.__getitem__)

    def with_findings(self, extra: tuple[Finding, ...]) -> Message:
        return replace(self, findings=self.findings + extra) if extra else self

    def to_json(self) -> dict[str, Any]:
        """The public JSON contract (see the README)."""
        return {
            "protocol": self.protocol,
            "soap_version": self.soap_version,
            "kind": self.kind,
            "operation": self.operation,
            "action": self.action,
            "message_id": self.message_id,
            "relates_to": self.relates_to,
            "to": self.to,
            "job_token": self.job_token,
            "fields": _plain(self.fields),
            "fault": self.fault.to_json() if self.fault else None,
            "attachments": [a.to_json() for a in self.attachments],
            "findings": [f.to_json() for f in self.findings],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


__all__ = ["Attachment", "Fault", "Finding", "Kind", "Message", "Protocol", "Severity", "asdict"]
