"""The WS-Scan job lifecycle, for the job tracker: a scan job is created by
CreateScanJob (its response names JobId and JobToken), yields pages to
RetrieveImage (JobId and JobToken), and ends when the client has every page
or cancels.  Later requests name the job by JobId alone (GetJobElements,
CancelJob, the job events), so jobs are found by token or by JobId.

    CREATING --CreateScanJob ok--> OPEN     CREATING --fault--> FAILED
    OPEN --RetrieveImage ok--> OPEN, or ENDED with the last page
           (one page from the platen; ImagesToTransfer pages when it says)
    OPEN --RetrieveImage: ClientErrorNoImagesAvailable--> ENDED (the
           feeder is empty: that is how a feeder job ends)
    OPEN --CancelJob ok--> CANCELED
    any --JobEndStateEvent--> FINISHED (its JobCompletedState)
    GetJobElements and JobStatusEvent are allowed in every state.

ENDED and CANCELED are over for the client but not yet summarised: the
scanner's job events may still come (they often arrive after the last
page's response), and they belong in the job.  The job is summarised at its
JobEndStateEvent, or when it has been idle a while, or at the end.

Sequence finding codes (shared with WS-DSP): job.unknown-token,
job.after-end, job.other-device.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

from . import wsscan
from .codes import finding
from .jobbook import Job, JobState
from .messages import Finding, Message

S = JobState


class Book(Protocol):
    """The tracker's book of jobs, as the WS-Scan side uses it."""

    jobs: OrderedDict[str, Job]

    @property
    def forgotten(self) -> OrderedDict[str, JobState]: ...

    def anonymous_key(self) -> str: ...

    def bound(self) -> None: ...

    def note_done(self, job: Job, key: str | None = None) -> None: ...

REF = wsscan.REF_OPERATIONS
END_OF_FEEDER = "ClientErrorNoImagesAvailable"


class ScanJobs:
    """The WS-Scan side of a JobTracker (its jobs live in the tracker's book)."""

    def __init__(self, tracker: Book, *, max_ids: int = 10_000) -> None:
        self.tracker = tracker
        self._by_id: OrderedDict[int, str] = OrderedDict()  # JobId -> key in tracker.jobs
        self._max_ids = max_ids

    def exchange(self, request: Message, response: Message | None, device: str, time: float,
                 findings: list[Finding]) -> Job | None:
        op = request.operation or ""
        if op == "CreateScanJob":
            return self._create(request, response, device, time)
        if op not in ("RetrieveImage", "CancelJob", "GetJobElements"):
            return None
        job = self._find(request, op, findings)
        if job is None:
            return None
        if device and job.device and device != job.device:
            findings.append(finding("job.other-device",
                                    f"{op} for scan job {job.job_id} from {device}, created by "
                                    f"{job.device}", ref=REF))
        fault = response.fault if response is not None and response.kind == "fault" else None
        if op == "GetJobElements":
            return job
        if job.state is not S.OPEN:
            if not (op == "RetrieveImage" and fault is not None):
                findings.append(finding("job.after-end",
                                        f"{op} for scan job {job.job_id} after it was "
                                        f"{job.state.value}", ref=REF))
            return job
        if op == "CancelJob" and fault is None and response is not None:
            self._end(job, S.CANCELED, "Canceled", time)
        elif op == "RetrieveImage" and fault is not None and fault.subcode == END_OF_FEEDER:
            self._end(job, S.ENDED, "Completed", time)
        elif op == "RetrieveImage" and response is not None and response.kind == "response":
            job.images += 1
            if job.images_wanted and job.images >= job.images_wanted:
                self._end(job, S.ENDED, "Completed", time)
        return job

    def event(self, message: Message, time: float) -> Job | None:
        inner = message.body.get("JobStatus") or message.body.get("JobEndState")
        job_id = inner.get("JobId") if isinstance(inner, dict) else None
        job = self._job_by_id(job_id)
        if job is None:
            return None
        job.events += 1
        if message.operation == "JobEndStateEvent" and isinstance(inner, dict):
            state = inner.get("JobCompletedState")
            reported = inner.get("ScansCompleted")
            if isinstance(reported, int):
                job.images_reported = reported
            self._end(job, S.FINISHED, state if isinstance(state, str) else "Completed", time)
        return job

    # ------------------------------------------------------------ internals

    def _create(self, request: Message, response: Message | None, device: str,
                time: float) -> Job:
        ticket = request.body.get("ScanTicket")
        ticket = ticket if isinstance(ticket, dict) else {}
        description = _dict(ticket.get("JobDescription"))
        params = _dict(ticket.get("DocumentParameters"))
        ok = response is not None and response.kind == "response"
        body = response.body if ok and response is not None else {}
        token = response.job_token if ok and response is not None else None
        job = Job(token=token, device=device, created_at=time, updated_at=time,
                  protocol="ws-scan")
        job.user = _text(description.get("JobOriginatingUserName"))
        job.document_root = _text(description.get("JobName"))
        job.source = _text(params.get("InputSource"))
        wanted = params.get("ImagesToTransfer")
        if job.source == "Platen":
            job.images_wanted = 1
        elif isinstance(wanted, int) and wanted > 0:
            job.images_wanted = wanted
        job_id = body.get("JobId")
        job.job_id = job_id if isinstance(job_id, int) else None
        if token:
            job.state = S.OPEN
            key = token
        else:
            job.state = S.FAILED
            job.ended_at = time
            key = self.tracker.anonymous_key()
        self.tracker.jobs[key] = job
        self.tracker.note_done(job, key)
        if job.job_id is not None:
            self._by_id[job.job_id] = key
            self._by_id.move_to_end(job.job_id)
            while len(self._by_id) > self._max_ids:
                self._by_id.popitem(last=False)
        self.tracker.bound()
        return job

    def _find(self, request: Message, op: str, findings: list[Finding]) -> Job | None:
        token = request.job_token
        if token:
            job = self.tracker.jobs.get(token)
            if job is not None or token in self.tracker.forgotten:
                return job
            findings.append(finding("job.unknown-token",
                                    f"{op} with JobToken {token} that the scanner never issued",
                                    ref=wsscan.page("JobToken")))
            return None
        return self._job_by_id(request.body.get("JobId"))

    def _job_by_id(self, job_id: Any) -> Job | None:
        if not isinstance(job_id, int):
            return None
        key = self._by_id.get(job_id)
        return self.tracker.jobs.get(key) if key is not None else None

    def _end(self, job: Job, state: JobState, outcome: str, time: float) -> None:
        job.state = state
        job.outcome = outcome
        job.ended_at = job.ended_at or time
        self.tracker.note_done(job)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("#text")
    return value if isinstance(value, str) else None
