"""wsdsp — the WS-DSP protocol, sans I/O.

Bytes in, frozen typed messages out (``decode``); messages in, bytes out
(``encode``); a job tracker that follows post-scan jobs across exchanges.
Nothing here opens a socket, and nothing imports mitmproxy or textual.
"""

from .codec import decode
from .encode import AttachmentData, Encoded, encode
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .messages import Attachment, Fault, Finding, Message

__all__ = [
    "Attachment",
    "AttachmentData",
    "Encoded",
    "Fault",
    "Finding",
    "LocalProtocolError",
    "Message",
    "ProtocolError",
    "RemoteProtocolError",
    "decode",
    "encode",
]
