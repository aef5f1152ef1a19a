"""What the job tracker knows of one job, and the states a job goes
through: shared by the WS-DSP tracker (``jobs``) and its WS-Scan side
(``scanjobs``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .messages import Finding


class JobState(enum.Enum):
    CREATING = "creating"
    OPEN = "open"
    ENDED = "ended"
    CANCELED = "canceled"
    FINISHED = "finished"
    FAILED = "failed"


#: The DocumentIds of a job that has none (shared: an empty frozenset each
#: would be one more object per job for the garbage collector).
NO_IDS: frozenset[int | str] = frozenset()


@dataclass(slots=True)
class Job:
    """What the tracker knows of one post-scan job (or WS-Scan scan job:
    then ``user`` is its JobOriginatingUserName, ``document_root`` its
    JobName, ``source`` its InputSource).

    Its collections are tuples and frozensets, added to by rebinding: a
    proxy holds thousands of open jobs (those waiting for their end state),
    and every list or set of theirs was an object each full pass of the
    garbage collector walked, with the exchanges on hold meanwhile; a tuple
    of strings leaves the collector's lists after its first pass, and a job
    with no findings, faults or images has none of its own."""

    token: str | None
    device: str
    created_at: float
    state: JobState = JobState.CREATING
    user: str | None = None
    psp_id: str | None = None
    document_root: str | None = None
    images: int = 0
    document_ids: frozenset[int | str] = NO_IDS
    #: DocumentId -> the SHA-256 of its image(s), to tell a resend from a
    #: clash (this and ``acknowledged``: while the job is open, emptied after)
    document_images: dict[int | str, tuple[str, ...]] = field(default_factory=dict)
    #: DocumentIds a SendImageResponse acknowledged (a resend counts once)
    acknowledged: frozenset[int | str] = NO_IDS
    exchanges: tuple[str, ...] = ()
    events: int = 0
    faults: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    outcome: str | None = None
    images_reported: int | None = None
    #: Events a rule dropped (the device never received them).
    dropped: int = 0
    updated_at: float = 0.0
    ended_at: float | None = None
    #: The end state came while the job was still open: fine if its
    #: EndPostScanJob exchange (overtaken) follows, a finding if not.
    early_end: str | None = None
    protocol: str = "ws-dsp"
    job_id: int | None = None  # WS-Scan's JobId
    source: str | None = None  # WS-Scan's InputSource
    images_wanted: int | None = None  # WS-Scan: pages the ticket asks for, when it says

    @property
    def short_token(self) -> str:
        return (self.token or "?")[:8]

    def summary(self) -> dict[str, Any]:
        """The job as JSON-ready values.  Its sequences are tuples: the
        tracker keeps the last 10,000 of these, and a dict of strings,
        numbers and tuples of them leaves the garbage collector's lists,
        where lists would keep 30,000 objects in every full pass of a
        proxy that has run a while (2-3 ms each, with the exchanges on hold)."""
        return {
            "protocol": self.protocol,
            "token": self.token,
            "job_id": self.job_id,
            "device": self.device,
            "user": self.user,
            "psp_id": self.psp_id,
            "document_root": self.document_root,
            "state": self.state.value,
            "outcome": self.outcome,
            "images": self.images,
            "images_reported": self.images_reported,
            "events": self.events,
            "dropped_events": self.dropped,
            "faults": self.faults,
            "exchanges": len(self.exchanges),
            "created_at": self.created_at,
            "ended_at": self.ended_at,
            "duration": (self.ended_at or self.updated_at) - self.created_at,
            "findings": tuple(f.to_json() for f in self.findings),
        }
