"""The one error the simulators raise for things a user can fix (a busy
port, an unusable certificate, a server that cannot be reached); the CLI
prints it as one line."""

from __future__ import annotations


class SimError(Exception):
    """A one-line problem the user can act on."""


class ProtocolFault(Exception):
    """A fault outside the WS-DSP table (WS-Eventing, WS-Addressing), with
    the Code and subcode namespace ``build.fault`` cannot look up itself."""

    def __init__(
        self, message: str, *, subcode: str, code: str, namespace: str, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.subcode = subcode
        self.code = code
        self.namespace = namespace
        self.detail = detail
