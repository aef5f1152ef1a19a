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

Anything not in TRANSITIONS is a sequence finding (job.after-end), but for
an EndPostScanJob whose end state overtook its exchange.

WS-Scan jobs (CreateScanJob -> RetrieveImage per page -> the end) follow
their own table in ``scanjobs`` and live in the same book, marked with
their protocol.

A resend is a request sent again because its answer never came (or came as
a fault the device may retry): the same MessageID, or a SendImage with a
DocumentId already sent in the job and the same image.  It is an info
finding (job.resend), takes no second step and counts no second image.

A job's outcome is what the server reported: the end-state event's
JobCompletedState, the final JobState of a GetPostScanJobElementsResponse
(for devices that poll), or the fault that failed CreatePostScanJob.  An
event a rule dropped is counted as dropped, not as seen: the job shows what
the device saw.  An event for a token not seen yet waits (``wait`` seconds
of capture time, ``max_waiting`` events) for the CreatePostScanJobResponse
it overtook; only then is it judged.  Exchange checks (status, MessageIDs)
are wsdsp.exchange's.

Over ~400 lines on purpose: the transition table and the one tracker that
applies it are read together; the per-exchange checks are already apart.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .codes import finding
from .exchange import MessageIds, check_exchange
from .jobbook import NO_IDS
from .jobbook import Job as Job  # re-exported: the tracker's users import them from here
from .jobbook import JobState as JobState
from .messages import Finding, Message
from .scanjobs import END_OF_FEEDER, ScanJobs
from .values import normalize_guid

FINAL_STATES = frozenset({"Completed", "Aborted", "Canceled"})


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



@dataclass(frozen=True, slots=True)
class Observation:
    """What one exchange or event meant: its job (if any) and new findings."""

    job: Job | None
    findings: tuple[Finding, ...]


class JobTracker:
    """Follows post-scan jobs.  ``max_jobs`` bounds live jobs (the first
    to finish goes first, then the oldest), ``max_message_ids`` the
    remembered request MessageIDs used to check RelatesTo."""

    def __init__(self, *, max_jobs: int = 10_000, max_message_ids: int = 100_000,
                 max_summaries: int = 10_000, wait: float = 30.0, max_waiting: int = 1_000) -> None:
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.finished: deque[dict[str, Any]] = deque(maxlen=max_summaries)
        self.ids = MessageIds(max_message_ids)
        # Tokens of evicted jobs -> the state they were forgotten in, so that a
        # late SendImage is "after end", not "never issued" (bounded).
        self._forgotten: OrderedDict[str, JobState] = OrderedDict()
        self._max_forgotten = max_summaries
        self._max_jobs = max_jobs
        #: Keys of live jobs that are done, in the order they got there: the
        #: bound's first victims, found without a walk over every live job
        #: (a proxy whose devices never hear their end states keeps thousands
        #: open, and that walk cost 0.8 ms per new job at 10,000).
        self._done: OrderedDict[str, None] = OrderedDict()
        self._anonymous = 0
        self._scan = ScanJobs(self)
        self._wait = wait
        self._max_waiting = max_waiting
        #: Events for tokens not seen yet: (message, exchange id, time, dropped).
        self._waiting: deque[tuple[Message, str, float, bool]] = deque()

    # -------------------------------------------------------------- feeding

    def exchange(
        self,
        request: Message,
        response: Message | None,
        *,
        device: str = "",
        exchange_id: str = "",
        time: float = 0.0,
        status: int | None = None,
    ) -> Observation:
        findings: list[Finding] = list(self._expire(time))
        resent = bool(request.message_id) and self.ids.remember_request(
            request.message_id or "", request.operation)
        findings.extend(self.ids.duplicate(request, "device"))
        if response is not None:
            findings.extend(self.ids.relates(request, response))
            findings.extend(check_exchange(request, response, status))
            if not any(f.code == "wsa.message-id-echoed" for f in findings):
                findings.extend(self.ids.duplicate(response, "server"))
        if request.protocol not in ("ws-dsp", "ws-scan") or request.kind != "request":
            return Observation(None, tuple(findings))
        op = request.operation or ""
        if resent:
            findings.append(finding(
                "job.resend",
                f"{op} sent again with the same MessageID {request.message_id}: a resend "
                "(a server kind to retries answers it as before and does the work once)"))
        job: Job | None
        if request.protocol == "ws-scan":
            job = self._scan.exchange(request, response, device, time, findings)
        elif op == "CreatePostScanJob":
            known = self.jobs.get(response.job_token) if resent and response is not None \
                and response.job_token else None
            job = known or self._create(request, response, device, time, findings)
        else:
            job = self._continue(op, request, response, device, time, findings, resent=resent)
        if job is not None:
            if exchange_id:
                job.exchanges += (exchange_id,)
            if response is not None and response.kind == "fault" and response.fault and not (
                    job.protocol == "ws-scan" and response.fault.subcode == END_OF_FEEDER):
                job.faults += (f"{op}: {response.fault.subcode or response.fault.code}",)
            job.updated_at = max(job.updated_at, time)
            job.findings += tuple(f for f in findings if f.code != "job.unknown-token")
            if op == "CreatePostScanJob" and job.token:
                findings.extend(self._release(job.token))
        return Observation(job, tuple(findings))

    def event(self, message: Message, *, exchange_id: str = "", time: float = 0.0,
              dropped: bool = False) -> Observation:
        if message.protocol == "ws-scan" and message.kind == "event":
            job = self._scan.event(message, time)
            if job is not None:
                if exchange_id:
                    job.exchanges += (exchange_id,)
                job.updated_at = max(job.updated_at, time)
            return Observation(job, ())
        if message.protocol != "ws-dsp" or message.kind != "event" or not message.job_token:
            return Observation(None, ())
        findings = list(self._expire(time))
        findings.extend(self.ids.duplicate(message, "server"))
        job = self.jobs.get(message.job_token)
        if job is None and message.job_token in self._forgotten:
            return Observation(None, tuple(findings))  # a late event for a job already summarised
        if job is None:
            self._waiting.append((message, exchange_id, time, dropped))
            while len(self._waiting) > self._max_waiting:
                findings.extend(self._judge_unknown(self._waiting.popleft()[0]))
            return Observation(None, tuple(findings))
        findings.extend(self._event(job, message, exchange_id, time, dropped))
        return Observation(job, tuple(findings))

    def _event(self, job: Job, message: Message, exchange_id: str, time: float,
               dropped: bool) -> list[Finding]:
        findings: list[Finding] = []
        name = message.operation or ""
        if exchange_id:
            job.exchanges += (exchange_id,)
        job.updated_at = max(job.updated_at, time)
        if dropped:
            job.dropped += 1
            found = finding("job.event-dropped",
                            f"{name} for job {job.short_token} was dropped by a rule: the device never "
                            "received it, so the job shows what the device saw without it")
            job.findings += (found,)
            return [found]
        job.events += 1
        inner = message.body.get("JobStatus") or message.body.get("PostScanJobEndState") or {}
        reported = inner.get("ImagesReceived") if isinstance(inner, dict) else None
        if isinstance(reported, int):
            job.images_reported = reported
            # Status events are queued per subscription and may arrive after
            # EndPostScanJob with an older count: compare final reports only.
            final = name == "PostScanJobEndStateEvent" or inner.get("JobState") in ("Completed", "Aborted")
            if final and reported != job.images and job.state != S.CANCELED:
                findings.append(finding(
                    "job.images-mismatch",
                    f"server reports ImagesReceived={reported} but acknowledged {job.images} SendImage(s)"))
        if name == "PostScanJobEndStateEvent" and isinstance(inner, dict):
            outcome = inner.get("JobCompletedState")
            job.outcome = outcome if isinstance(outcome, str) else job.outcome
            job.ended_at = job.ended_at or time
            if job.state == S.OPEN and outcome == "Completed":
                job.early_end = str(outcome)
        self._step(job, name, findings)
        job.findings += tuple(findings)
        return findings

    # ------------------------------------------------------------- queries

    def job(self, token: str) -> Job | None:
        return self.jobs.get(normalize_guid(token))

    def finish(self) -> list[Finding]:
        """End of capture: events still waiting for their job are judged,
        every job still open was never ended."""
        out = list(self._expire(float("inf")))
        for job in self.jobs.values():
            out.extend(self._close(job))
            if any(f.code == "job.never-ended" for f in job.findings):
                continue  # said once is enough (finish may be called again)
            if job.state in (S.OPEN, S.CREATING) and job.token:
                never = finding("job.never-ended", f"job {job.token} was never ended or cancelled")
                job.findings += (never,)
                out.append(never)
        return out

    def evict(self, *, before: float) -> list[dict[str, Any]]:
        """Summarise and forget jobs that are done, or idle since ``before``."""
        gone = []
        for key, job in list(self.jobs.items()):
            if job.state in DONE or job.updated_at < before:
                self._close(job)
                if job.state not in DONE and job.token and job.state in (S.OPEN, S.CREATING):
                    job.findings += (finding("job.never-ended", f"job {job.token} idle and never ended"),)
                gone.append(self._retire(key, job))
        return gone

    def retire_if_done(self, job: Job | None) -> dict[str, Any] | None:
        """Summarise and forget ``job`` now if it is done (its summary is
        due when it ends, not at the next eviction); None otherwise."""
        if job is None or job.early_end is not None:
            return None  # (an early end state waits for the EndPostScanJob it overtook)
        # A polling device's job ends when the server reports a final JobState
        # for it after EndPostScanJob (or Cancel): no end-state event follows
        # for a device that did not subscribe (a late one is taken as such).
        # (A WS-Scan job is over for its client at its last page, and its
        # events may still come: it is summarised at eviction.)
        polled_out = (job.protocol == "ws-dsp" and job.state in (S.ENDED, S.CANCELED)
                      and job.outcome in FINAL_STATES)
        if job.state not in DONE and not polled_out:
            return None
        if job.token and self.jobs.get(job.token) is job:
            return self._retire(job.token, job)
        # A creation that failed has no token: it is filed under another key,
        # and was the last to be noted done (the walk over every job is the
        # fallback, for one the bound's line no longer holds).
        key = next((k for k in reversed(self._done) if self.jobs.get(k) is job), None)
        key = key or next((k for k, j in self.jobs.items() if j is job), None)
        return None if key is None else self._retire(key, job)

    def _retire(self, key: str, job: Job) -> dict[str, Any]:
        self._close(job)
        summary = job.summary()
        self.finished.append(summary)
        del self.jobs[key]
        self._done.pop(key, None)
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

    def note_done(self, job: Job, key: str | None = None) -> None:
        """``job`` (filed under ``key``, by default its token) may have
        reached a done state: keep it first in line for the bound."""
        key = key or job.token
        if key is not None and job.state in DONE and self.jobs.get(key) is job:
            self._done[key] = None

    @property
    def forgotten(self) -> OrderedDict[str, JobState]:
        """Tokens of jobs summarised and evicted, with the state they ended in."""
        return self._forgotten

    # ------------------------------------------------------------ internals

    def _close(self, job: Job) -> list[Finding]:
        """Judge what could only be judged once the job's traffic is over."""
        if job.early_end is None:
            return []
        job.early_end = None
        found = finding("job.completed-without-end",
                        f"job {job.token} reported Completed, but the device never sent "
                        "EndPostScanJob; a job completes after EndPostScanJob (a job the device "
                        "abandons is Aborted)")
        job.findings += (found,)
        return [found]

    def _expire(self, now: float) -> Iterator[Finding]:
        while self._waiting and self._waiting[0][2] < now - self._wait:
            yield from self._judge_unknown(self._waiting.popleft()[0])

    def _judge_unknown(self, message: Message) -> Iterator[Finding]:
        yield finding("job.unknown-token",
                      f"{message.operation} for JobToken {message.job_token} that no job has (waited "
                      f"{self._wait:g} s for a CreatePostScanJobResponse to hand it out)",
                      severity="warning")

    def _release(self, token: str) -> list[Finding]:
        """Events that overtook this token's CreatePostScanJobResponse."""
        job = self.jobs.get(token)
        if job is None or not any(m.job_token == token for m, _, _, _ in self._waiting):
            return []
        kept: deque[tuple[Message, str, float, bool]] = deque()
        out: list[Finding] = []
        for item in self._waiting:
            if item[0].job_token == token:
                out.extend(self._event(job, *item))
            else:
                kept.append(item)
        self._waiting = kept
        return out

    def _create(self, request: Message, response: Message | None, device: str, time: float,
                findings: list[Finding]) -> Job:
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
            if token in self.jobs or token in self._forgotten:
                findings.append(finding(
                    "job.token-reused",
                    f"JobToken {token} handed out again for a new job; each job needs its own "
                    "token (the two jobs are kept apart here)"))
                if token in self.jobs:
                    self._anonymous += 1
                    renamed = f"{token}#{self._anonymous}"
                    self.jobs[renamed] = self.jobs.pop(token)
                    if token in self._done:
                        del self._done[token]
                        self._done[renamed] = None
        else:
            job.state = S.FAILED
            job.ended_at = time
            if response is not None and response.kind == "fault" and response.fault is not None:
                job.outcome = f"Failed ({response.fault.subcode or response.fault.code})"
            self._anonymous += 1
            key = f"failed-{self._anonymous}"
        self.jobs[key] = job
        self.note_done(job, key)
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
                findings.append(finding("job.after-end", f"{op} for job {token[:8]} after it was {state.value}"))
            return None
        if job is None:
            findings.append(finding("job.unknown-token", f"{op} with JobToken {token} that the server never issued"))
            return None
        if device and job.device and device != job.device:
            findings.append(finding("job.other-device", f"{op} for job {job.short_token} from {device}, created by {job.device}"))
        if response is not None and response.kind == "fault":
            return job
        if op == "GetPostScanJobElements" and response is not None and response.kind == "response":
            self._polled(job, token, response, time, findings)
        if op == "EndPostScanJob" and job.early_end is not None and job.state == S.FINISHED:
            job.early_end = None  # the end state overtook this exchange: in order after all
            return job
        if op == "SendImage":
            description = request.body.get("DocumentDescription")
            doc_id = description.get("DocumentId") if isinstance(description, dict) else None
            image = tuple(a.sha256 for a in request.attachments if a.referenced and a.sha256)
            if doc_id is not None and job.state == S.OPEN:
                if doc_id in job.document_ids:
                    if image and job.document_images.get(doc_id) == image:
                        if not resent:  # the same MessageID said so already
                            findings.append(finding(
                                "job.resend",
                                f"SendImage DocumentId {doc_id} sent again in job {job.short_token} "
                                "with the same image: a resend (a server kind to retries answers "
                                "it as before and keeps one copy)"))
                    else:
                        findings.append(finding("job.duplicate-document-id",
                                                f"DocumentId {doc_id} sent twice in job {job.short_token}"))
                job.document_ids |= {doc_id}
                job.document_images.setdefault(doc_id, image)
            # Only a SendImageResponse acknowledges an image (not silence, not garbage),
            # and a document acknowledged before is not a second image.
            if job.state == S.OPEN and response is not None and response.kind == "response" \
                    and (doc_id is None or doc_id not in job.acknowledged):
                job.images += 1
                if doc_id is not None:
                    job.acknowledged |= {doc_id}
        elif resent and job.state != S.OPEN and op in ("EndPostScanJob", "CancelPostScanJob"):
            return job  # the step was taken when it was first sent
        before = job.state
        self._step(job, op, findings)
        if job.state in (S.ENDED, S.CANCELED) and before != job.state:
            job.ended_at = time
        return job

    def _polled(self, job: Job, token: str, response: Message, time: float,
                findings: list[Finding]) -> None:
        """A polling device's view of its job: the JobStatus it was sent."""
        about = response.job_token
        if about and about != token:
            findings.append(finding(
                "job.elements-other-job",
                f"GetPostScanJobElements asked about job {token} and was answered about {about}"))
            return
        status = _job_status(response.body)
        state = status.get("JobState")
        if isinstance(state, str) and state in FINAL_STATES and job.outcome is None:
            job.outcome = state
            job.ended_at = job.ended_at or time
        reported = status.get("ImagesReceived")
        if isinstance(reported, int):
            job.images_reported = reported

    def _step(self, job: Job, what: str, findings: list[Finding]) -> None:
        nxt = TRANSITIONS.get((job.state, what))
        if nxt is None:
            findings.append(finding("job.after-end", f"{what} for job {job.short_token} after it was {job.state.value}"))
            return
        if job.state is S.OPEN and nxt is not S.OPEN:
            # What tells a resend from a clash matters only while images
            # come (a job never opens again): a tracker left running for
            # days keeps no image digests of ended jobs.
            job.document_images.clear()
            job.acknowledged = NO_IDS
        job.state = nxt
        if nxt in DONE:
            self.note_done(job)

    def _bound(self) -> None:
        while len(self.jobs) > self._max_jobs:
            victim = None
            while self._done and victim is None:
                key, _ = self._done.popitem(last=False)
                found = self.jobs.get(key)
                victim = key if found is not None and found.state in DONE else None
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


def _job_status(body: Any) -> dict[str, Any]:
    """The JobStatus of a GetPostScanJobElementsResponse body ({} if none)."""
    elements = body.get("JobElements") if isinstance(body, dict) else None
    data = elements.get("ElementData") if isinstance(elements, dict) else None
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict) and isinstance(item.get("JobStatus"), dict):
            status: dict[str, Any] = item["JobStatus"]
            return status
    return {}
