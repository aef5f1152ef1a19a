"""The two kinds of trouble, kept apart as h11 does.

* Bad input from the other side of the wire is never an exception of
  ``decode``: it becomes a Finding on the Message.  Code that must refuse a
  message outright (a simulated server answering garbage) raises
  ``RemoteProtocolError`` carrying the fault to send back.
* Misuse of this library by the caller (encoding a message without a body,
  feeding the job tracker a response without its request) raises
  ``LocalProtocolError``: that is a bug in the calling code.
"""

from __future__ import annotations


class ProtocolError(Exception):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} ({self.hint})" if self.hint else base


class RemoteProtocolError(ProtocolError):
    """The peer sent something we cannot act on."""

    def __init__(
        self, message: str, *, subcode: str = "InvalidArgs", detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.subcode = subcode
        self.detail = detail


class LocalProtocolError(ProtocolError):
    """The caller used this library wrongly."""
