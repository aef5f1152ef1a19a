"""Protocol-aware replay of recorded WS-DSP sessions, sans I/O.

Replaying WS-DSP byte for byte cannot work: every request carries a fresh
``wsa:MessageID`` that the response must answer in ``wsa:RelatesTo``, and the
server mints the JobToken that every later request of the job carries.  This
module holds the protocol logic of replay; ``addons/replay`` does the I/O.

Pieces (all pure: messages and bytes in, messages and bytes out):

``Recorded`` / ``recorded(...)``
    One recorded exchange (device -> server) or event (server -> device):
    decoded messages, raw bodies, HTTP status and times.  ``recorded()``
    builds one from raw bytes with ``wsdsp.decode``.
``Capture``
    A capture analysed: its jobs (by recorded JobToken), each exchange's
    slot (which request it answers: operation, job, position in the job,
    device), the origins the devices talked to, and when each recorded event
    happened relative to the exchanges of its job.
``ServerReplay``
    Plays the recorded server.  ``answer(request, device=...)`` matches the
    request to a recorded exchange (operation, the n-th of that operation in
    the job, device, optional XPath ``keys``; never raw bytes) and returns an
    ``Answer``: the recorded response regenerated (fresh MessageID, RelatesTo
    = the incoming MessageID, JobTokens mapped per job, recorded or fresh),
    and the recorded events to send to the device's current NotifyTo now.
``ClientReplay``
    Plays the recorded devices.  ``steps`` are the recorded requests in
    capture order with what each must wait for; ``prepare(step)`` rewrites
    one (fresh MessageID, live JobTokens and other server-minted ids, target
    origin, NotifyTo) and ``observe(...)`` compares the live answer with the
    recorded one and learns the ids it minted.
``compare_messages(...)`` / ``Difference`` / ``ExchangeResult``
    The semantic comparison: MessageID, RelatesTo, JobToken values (beyond
    their consistency), other server-minted GUIDs, URL origins and
    xs:dateTime values are ignored; changed, added and removed fields,
    faults that appeared, vanished or changed, status codes, wrong RelatesTo
    and latency beyond a threshold are reported.

The modules: ``records`` (Recorded, Capture), ``rewriting``, ``server``,
``compare``, ``client``; everything public is re-exported here.

The async API on top (for the CLI and the viewer) is documented in
``addons/replay/__init__.py``.
"""

from .client import ClientReplay, Outgoing, Report, Step, plan
from .compare import (
    Correlation,
    Difference,
    ExchangeResult,
    compare_exchange,
    compare_messages,
)
from .records import Capture, Recorded, advertised, operation_key, recorded, slot_of
from .rewriting import Keys, Rewriter, map_strings, notify_to, origin_of, rewrite, set_notify_to
from .server import Answer, OutgoingEvent, ServerReplay, Timing, unmatched_fault

__all__ = [
    "Answer",
    "Capture",
    "ClientReplay",
    "Correlation",
    "Difference",
    "ExchangeResult",
    "Keys",
    "Outgoing",
    "OutgoingEvent",
    "Recorded",
    "Report",
    "Rewriter",
    "ServerReplay",
    "Step",
    "Timing",
    "advertised",
    "compare_exchange",
    "compare_messages",
    "map_strings",
    "notify_to",
    "operation_key",
    "origin_of",
    "plan",
    "recorded",
    "rewrite",
    "set_notify_to",
    "slot_of",
    "unmatched_fault",
]
