"""The simulated scanner's jobs: created by CreateScanJob, drained one page
per RetrieveImage, ended by the last page (Completed) or CancelJob
(Canceled); kept in a bounded history afterwards so late requests get the
spec's faults rather than "not found"."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from dspscope.wsdsp.values import new_guid

from .model import ScanFault, Ticket

HISTORY = 100


@dataclass(slots=True)
class ScanJob:
    job_id: int
    token: str
    ticket: Ticket
    pages: int
    owner: str
    created: dt.datetime
    retrieved: int = 0
    state: str = "Started"
    reasons: list[str] = field(default_factory=lambda: ["JobScanning"])
    completed: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.state not in ("Completed", "Canceled", "Aborted")

    def status(self) -> dict[str, Any]:
        return {
            "JobId": self.job_id,
            "JobState": self.state,
            "JobStateReasons": {"JobStateReason": list(self.reasons)},
            "ScansCompleted": self.retrieved,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "JobId": self.job_id,
            "JobName": self.ticket.name,
            "JobOriginatingUserName": self.ticket.user,
            "JobState": self.state,
            "JobStateReasons": {"JobStateReason": list(self.reasons)},
            "ScansCompleted": self.retrieved,
        }

    def end_state(self) -> dict[str, Any]:
        return {
            "JobId": self.job_id,
            "JobCompletedState": self.state,
            "JobCompletedStateReasons": {"JobStateReason": list(self.reasons)},
            "JobName": self.ticket.name,
            "JobOriginatingUserName": self.ticket.user,
            "ScansCompleted": self.retrieved,
            "JobCompletedTime": (self.completed or self.created).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


class ScanJobs:
    """Jobs by JobId, the active ones and a bounded history."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[int, ScanJob] = OrderedDict()
        self._next_id = 1

    @staticmethod
    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def create(self, ticket: Ticket, pages: int, owner: str) -> ScanJob:
        job = ScanJob(self._next_id, new_guid(), ticket, pages, owner,
                      self.now())
        self._next_id += 1
        self._jobs[job.job_id] = job
        ended = [j for j in self._jobs.values() if not j.active]
        for old in ended[: max(0, len(ended) - HISTORY)]:
            del self._jobs[old.job_id]
        return job

    def find(self, job_id: Any, token: Any = None, *, check_token: bool = False) -> ScanJob:
        try:
            number = int(str(job_id).strip())
        except ValueError:
            raise ScanFault("ClientErrorJobIdNotFound", f"JobId: {job_id}") from None
        job = self._jobs.get(number)
        if job is None:
            raise ScanFault("ClientErrorJobIdNotFound", f"JobId: {number}")
        if check_token and str(token or "").strip() != job.token:
            raise ScanFault("ClientErrorInvalidJobToken")
        return job

    def next_page(self, job: ScanJob) -> int:
        """The number (1-based) of the page to hand out now; ends the job
        with its last page."""
        if job.state == "Canceled":
            raise ScanFault("ClientErrorJobCancelled")
        if job.retrieved >= job.pages:
            raise ScanFault("ClientErrorNoImagesAvailable")
        job.retrieved += 1
        job.state, job.reasons = "Processing", ["JobScanning"]
        if job.retrieved >= job.pages:
            self.finish(job, "Completed", "None")
        return job.retrieved

    def cancel(self, job: ScanJob) -> None:
        if not job.active:
            raise ScanFault("ClientErrorJobIdNotFound", f"JobId: {job.job_id}")
        self.finish(job, "Canceled", "None")

    def finish(self, job: ScanJob, state: str, reason: str) -> None:
        job.state, job.reasons, job.completed = state, [reason], self.now()

    def active(self) -> list[ScanJob]:
        return [job for job in self._jobs.values() if job.active]

    def history(self) -> list[ScanJob]:
        return [job for job in self._jobs.values() if not job.active]
