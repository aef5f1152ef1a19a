"""The post-scan job lifecycle, as one table of transitions, and the tracker
that follows jobs across exchanges.

Feed the tracker what crossed the wire, in order: ``exchange(request,
response)`` for each request/response pair (response None if none came) and
``event(message)`` for each event.  It correlates by WS-Addressing
(MessageID <-> RelatesTo), groups exchanges into jobs by JobToken, and returns
the sequence findings each exchange caused.  It never does I/O and holds a
bounded amount of state: finished jobs are summarised and evicted.

Job states (ours, not the server's JobState):

    CREATING --CreatePostScanJob ok--> OPEN --SendImage--> OPEN
    CREATING --fault--> FAILED
    OPEN --EndPostScanJob--> ENDED          OPEN --CancelPostScanJob--> CANCELED
    ENDED/CANCELED --PostScanJobEndStateEvent--> FINISHED
    GetPostScanJobElements and status events are allowed in every state.

Anything not in TRANSITIONS is a sequence finding (job.after-end).

WS-Scan jobs (CreateScanJob -> RetrieveImage per page -> the end) follow
their own table in ``scanjobs`` and live in the same book, marked with
their protocol.

Sequence finding codes: job.unknown-token, job.after-end,
job.duplicate-document-id, job.resend (info), wsa.relates-to-unmatched,
wsa.relates-to-mismatch, job.never-ended, job.images-mismatch, job.other-device.

A resend is a request sent again because its answer never came (or came as
a fault the device may retry): the same MessageID, or a SendImage with a
DocumentId already sent in the job and the same image.  It is an info
finding, takes no second step and counts no second image.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .jobbook import Job as Job  # re-exported: the tracker's users import them from here
from .jobbook import JobState as JobState
from .messages import Finding, Message
from .scanjobs import END_OF_FEEDER, ScanJobs
from .values import normalize_guid

S = JobState
#: (state, what happened) -> next state.  What happened is an operation or
#: event name; a fault answering an operation leaves the state unchanged.
TRANSITIONS: dict[tuple[JobState, str], JobState] = {
    (S.OPEN, "SendImage"): S.OPEN,
    (S.OPEN, "EndPostScanJob"): S.ENDED,
    (S.OPEN, "CancelPostScanJob"): S.CANCELED,
    **{(s, "GetPostScanJobElements"): s for s in S},
    **{(s, "PostScanJobStatusEvent"): s for s in S},
    (S.OPEN, "PostScanJobEndStateEvent"): S.FINISHED,
    (S.ENDED, "PostScanJobEndStateEvent"): S.FINISHED,
    (S.CANCELED, "PostScanJobEndStateEvent"): S.FINISHED,
}
DONE = frozenset({S.FINISHED, S.FAILED})

REF = "WS-DSP.md#addressing-rules-that-a-checker-can-verify"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one exchange or event meant: its job (if any) and new findings."""

    job: Job | None
    findings: tuple[Finding, ...]


class JobTracker:
    """Follows post-scan jobs.  ``max_jobs`` bounds live jobs (oldest
    finished first, then oldest), ``max_message_ids`` the remembered
    request MessageIDs used to check RelatesTo."""

    def __init__(self, *, max_jobs: int = 10_000, max_message_ids: int = 100_000,
                 max_summaries: int = 10_000) -> None:
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.finished: deque[dict[str, Any]] = deque(maxlen=max_summaries)
        #: request MessageID -> its operation (a resend repeats both)
        self._message_ids: OrderedDict[str, str | None] = OrderedDict()
        # Tokens of evicted jobs -> the state they were forgotten in, so that a
        # late SendImage is "after end", not "never issued" (bounded).
        self._forgotten: OrderedDict[str, JobState] = OrderedDict()
        self._max_forgotten = max_summaries
        self._max_jobs = max_jobs
        self._max_ids = max_message_ids
        self._anonymous = 0
        self._scan = ScanJobs(self)

    # -------------------------------------------------------------- feeding

    def exchange(
        self,
        request: Message,
        response: Message | None,
        *,
        device: str = "",
        exchange_id: str = "",
        time: float = 0.0,
    ) -> Observation:
        findings: list[Finding] = []
        resent = False
        if request.message_id:
            key = normalize_guid(request.message_id)
            resent = key in self._message_ids and self._message_ids[key] == request.operation
            self._remember(request.message_id, request.operation)
        if response is not None:
            findings.extend(self._relates(request, response))
        if request.protocol not in ("ws-dsp", "ws-scan") or request.kind != "request":
            return Observation(None, tuple(findings))
        op = request.operation or ""
        if resent:
            findings.append(Finding(
                "info", "job.resend",
                f"{op} sent again with the same MessageID {request.message_id}: a resend "
                "(a server kind to retries answers it as before and does the work once)", REF))
        job: Job | None
        if request.protocol == "ws-scan":
            job = self._scan.exchange(request, response, device, time, findings)
        elif op == "CreatePostScanJob":
            known = self.jobs.get(response.job_token) if resent and response is not None \
                and response.job_token else None
            job = known or self._create(request, response, device, time)
        else:
            job = self._continue(op, request, response, device, time, findings, resent=resent)
        if job is not None:
            if exchange_id:
                job.exchanges.append(exchange_id)
            if response is not None and response.kind == "fault" and response.fault and not (
                    job.protocol == "ws-scan" and response.fault.subcode == END_OF_FEEDER):
                job.faults.append(f"{op}: {response.fault.subcode or response.fault.code}")
            job.updated_at = max(job.updated_at, time)
            job.findings.extend(findings)
        return Observation(job, tuple(findings))

    def event(self, message: Message, *, exchange_id: str = "", time: float = 0.0) -> Observation:
        if message.protocol == "ws-scan" and message.kind == "event":
            job = self._scan.event(message, time)
            if job is not None:
                if exchange_id:
                    job.exchanges.append(exchange_id)
                job.updated_at = max(job.updated_at, time)
            return Observation(job, ())
        if message.protocol != "ws-dsp" or message.kind != "event" or not message.job_token:
            return Observation(None, ())
        findings: list[Finding] = []
        job = self.jobs.get(message.job_token)
        if job is None and message.job_token in self._forgotten:
            return Observation(None, ())  # a late event for a job already summarised
        if job is None:
            findings.append(Finding("warning", "job.unknown-token",
                                    f"event for JobToken {message.job_token} that no job has", REF))
            return Observation(None, tuple(findings))
        job.events += 1
        name = message.operation or ""
        body = message.body
        inner = body.get("JobStatus") or body.get("PostScanJobEndState") or {}
        reported = inner.get("ImagesReceived") if isinstance(inner, dict) else None
        if isinstance(reported, int):
            job.images_reported = reported
            # Status events are queued per subscription and may arrive after
            # EndPostScanJob with an older count: compare final reports only.
            final = name == "PostScanJobEndStateEvent" or inner.get("JobState") in ("Completed", "Aborted")
            if final and reported != job.images and job.state != S.CANCELED:
                findings.append(Finding(
                    "error", "job.images-mismatch",
                    f"server reports ImagesReceived={reported} but acknowledged {job.images} SendImage(s)", REF))
        if name == "PostScanJobEndStateEvent" and isinstance(inner, dict):
            outcome = inner.get("JobCompletedState")
            job.outcome = outcome if isinstance(outcome, str) else job.outcome
            job.ended_at = job.ended_at or time
        self._step(job, name, findings)
        if exchange_id:
            job.exchanges.append(exchange_id)
        job.updated_at = max(job.updated_at, time)
        job.findings.extend(findings)
        return Observation(job, tuple(findings))

    # ------------------------------------------------------------- queries

    def job(self, token: str) -> Job | None:
        return self.jobs.get(normalize_guid(token))

    def finish(self) -> list[Finding]:
        """End of capture: every job still open was never ended."""
        out = []
        for job in self.jobs.values():
            if any(f.code == "job.never-ended" for f in job.findings):
                continue  # said once is enough (finish may be called again)
            if job.state in (S.OPEN, S.CREATING) and job.token:
                finding = Finding("warning", "job.never-ended",
                                  f"job {job.token} was never ended or cancelled", REF)
                job.findings.append(finding)
                out.append(finding)
        return out

    def evict(self, *, before: float) -> list[dict[str, Any]]:
        """Summarise and forget jobs that are done, or idle since ``before``."""
        gone = []
        for key, job in list(self.jobs.items()):
            if job.state in DONE or job.updated_at < before:
                if job.state not in DONE and job.token and job.state in (S.OPEN, S.CREATING):
                    job.findings.append(Finding("warning", "job.never-ended",
                                                f"job {job.token} idle and never ended", REF))
                gone.append(self._retire(key, job))
        return gone

    def retire_if_done(self, job: Job | None) -> dict[str, Any] | None:
        """Summarise and forget ``job`` now if it is done (its summary is
        due when it ends, not at the next eviction); None otherwise."""
        if job is None or job.state not in DONE:
            return None
        if job.token and self.jobs.get(job.token) is job:
            return self._retire(job.token, job)
        # a creation that failed has no token: it is filed under another key
        key = next((k for k, j in self.jobs.items() if j is job), None)
        return None if key is None else self._retire(key, job)

    def _retire(self, key: str, job: Job) -> dict[str, Any]:
        summary = job.summary()
        self.finished.append(summary)
        del self.jobs[key]
        self._forget(job)
        return summary

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs.values())

    # ------------------------------------------------- for the WS-Scan side

    def anonymous_key(self) -> str:
        """A key for a job whose creation failed (it has no token)."""
        self._anonymous += 1
        return f"failed-{self._anonymous}"

    def bound(self) -> None:
        self._bound()

    @property
    def forgotten(self) -> OrderedDict[str, JobState]:
        """Tokens of jobs summarised and evicted, with the state they ended in."""
        return self._forgotten

    # ------------------------------------------------------------ internals

    def _remember(self, message_id: str, operation: str | None) -> None:
        key = normalize_guid(message_id)
        self._message_ids[key] = operation
        self._message_ids.move_to_end(key)
        while len(self._message_ids) > self._max_ids:
            self._message_ids.popitem(last=False)

    def _relates(self, request: Message, response: Message) -> Iterator[Finding]:
        if not response.relates_to or response.protocol == "not-soap":
            return
        got = normalize_guid(response.relates_to)
        if request.message_id and got == normalize_guid(request.message_id):
            return
        if got not in self._message_ids:
            yield Finding("error", "wsa.relates-to-unmatched",
                          f"RelatesTo {response.relates_to} matches no request seen", REF)
        else:
            yield Finding("error", "wsa.relates-to-mismatch",
                          f"RelatesTo {response.relates_to} answers another request, "
                          f"not {request.message_id}", REF)

    def _create(self, request: Message, response: Message | None, device: str, time: float) -> Job:
        body = request.body
        instructions = body.get("PostScanInstructions")
        token = response.job_token if response is not None and response.kind == "response" else None
        job = Job(token=token, device=device, created_at=time, updated_at=time)
        job.user = _text(body.get("UserIdentifier"))
        job.psp_id = _text(body.get("PSP_Identifier"))
        if isinstance(instructions, dict):
            job.document_root = _text(instructions.get("DocumentRootName"))
        if token:
            job.state = S.OPEN
            key = token
        else:
            job.state = S.FAILED
            job.ended_at = time
            self._anonymous += 1
            key = f"failed-{self._anonymous}"
        self.jobs[key] = job
        self._bound()
        return job

    def _continue(self, op: str, request: Message, response: Message | None, device: str,
                  time: float, findings: list[Finding], *, resent: bool = False) -> Job | None:
        token = request.job_token
        if not token:
            return None
        job = self.jobs.get(token)
        if job is None and token in self._forgotten:
            state = self._forgotten[token]
            if (state, op) not in TRANSITIONS:
                findings.append(Finding("error", "job.after-end",
                                        f"{op} for job {token[:8]} after it was {state.value}", REF))
            return None
        if job is None:
            findings.append(Finding("error", "job.unknown-token",
                                    f"{op} with JobToken {token} that the server never issued", REF))
            return None
        if device and job.device and device != job.device:
            findings.append(Finding("warning", "job.other-device",
                                    f"{op} for job {job.short_token} from {device}, created by {job.device}", REF))
        if response is not None and response.kind == "fault":
            return job
        if op == "SendImage":
            description = request.body.get("DocumentDescription")
            doc_id = description.get("DocumentId") if isinstance(description, dict) else None
            image = tuple(a.sha256 for a in request.attachments if a.referenced and a.sha256)
            if doc_id is not None and job.state == S.OPEN:
                if doc_id in job.document_ids:
                    if image and job.document_images.get(doc_id) == image:
                        if not resent:  # the same MessageID said so already
                            findings.append(Finding(
                                "info", "job.resend",
                                f"SendImage DocumentId {doc_id} sent again in job {job.short_token} "
                                "with the same image: a resend (a server kind to retries answers "
                                "it as before and keeps one copy)", REF))
                    else:
                        findings.append(Finding("warning", "job.duplicate-document-id",
                                                f"DocumentId {doc_id} sent twice in job {job.short_token}", REF))
                job.document_ids.add(doc_id)
                job.document_images.setdefault(doc_id, image)
            # Only a SendImageResponse acknowledges an image (not silence, not garbage),
            # and a document acknowledged before is not a second image.
            if job.state == S.OPEN and response is not None and response.kind == "response" \
                    and (doc_id is None or doc_id not in job.acknowledged):
                job.images += 1
                if doc_id is not None:
                    job.acknowledged.add(doc_id)
        elif resent and job.state != S.OPEN and op in ("EndPostScanJob", "CancelPostScanJob"):
            return job  # the step was taken when it was first sent
        before = job.state
        self._step(job, op, findings)
        if job.state in (S.ENDED, S.CANCELED) and before != job.state:
            job.ended_at = time
        return job

    def _step(self, job: Job, what: str, findings: list[Finding]) -> None:
        nxt = TRANSITIONS.get((job.state, what))
        if nxt is None:
            findings.append(Finding("error", "job.after-end",
                                    f"{what} for job {job.short_token} after it was {job.state.value}", REF))
            return
        job.state = nxt

    def _bound(self) -> None:
        while len(self.jobs) > self._max_jobs:
            victim = next((k for k, j in self.jobs.items() if j.state in DONE), None)
            victim = victim or next(iter(self.jobs))
            job = self.jobs.pop(victim)
            self.finished.append(job.summary())
            self._forget(job)

    def _forget(self, job: Job) -> None:
        if not job.token:
            return
        self._forgotten[job.token] = job.state
        self._forgotten.move_to_end(job.token)
        while len(self._forgotten) > self._max_forgotten:
            self._forgotten.popitem(last=False)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
