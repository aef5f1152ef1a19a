"""The simulated scan server's post-scan jobs: argument checks, the job
lifecycle and the JobStatus / JobDescription / end-state bodies.  Pure: the
server module does the network and the disk and calls in here.

The lifecycle is the one table in ``wsdsp/jobs.py`` (``TRANSITIONS``), the
same the proxy's tracker follows on the wire; the server takes a step for
each operation it accepts and for the end-state event it sends, and answers
``dsp:OperationFailed`` to anything the table does not allow:

    (created) OPEN --SendImage--> OPEN
    OPEN --EndPostScanJob--> ENDED --(filters ran) PostScanJobEndStateEvent--> FINISHED
    OPEN --CancelPostScanJob--> CANCELED --PostScanJobEndStateEvent--> FINISHED
    GetPostScanJobElements is allowed in every state.

A job is OPEN from the moment CreatePostScanJob succeeds (the tracker's
CREATING is the wait for that answer, and FAILED a create that was refused:
neither is a server job).  The spec's JobState a device sees is kept beside
it: Started, Processing (images arriving, then filters running), and
Completed / Aborted / Canceled at the end (``completed_state``).
Bad arguments raise ``RemoteProtocolError`` carrying the fault to answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dspscope.wsdsp import Attachment, Message, RemoteProtocolError
from dspscope.wsdsp.jobs import TRANSITIONS, JobState
from dspscope.wsdsp.mtom import normalize_cid
from dspscope.wsdsp.names import DSP, FORMATS
from dspscope.wsdsp.values import is_guid, is_sid, new_guid, normalize_guid

END_STATE_EVENT = "PostScanJobEndStateEvent"

_CREATE_ARGS = ("UserIdentifier", "PSP_Identifier", "PostScanInstructions")
_ELEMENTS = ("JobStatus", "JobDescription")


def xs_datetime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def invalid(argument: str, why: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"{argument}: {why}", subcode="InvalidArgs", detail=argument)


def failed(why: str) -> RemoteProtocolError:
    return RemoteProtocolError(why, subcode="OperationFailed")


@dataclass(slots=True)
class FilterRun:
    dialect: str
    instructions: Mapping[str, Any]
    state: str = "Pending"
    reasons: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Dialect": self.dialect, "FilterState": self.state}
        if self.reasons:
            out["FilterStateReasons"] = {"FilterStateReason": list(self.reasons)}
        return out


@dataclass(slots=True)
class Document:
    document_id: int
    format: str
    size: int
    staged: str | None = None  # where the server keeps the bytes until the filters run
    #: SHA-256 of the image: a resend (same DocumentId, same image) is told
    #: from a different image under a used DocumentId by it
    digest: str = ""


@dataclass(slots=True)
class ServerJob:
    token: str
    owner: str
    user: str
    psp_id: str
    document_root: str
    continue_on_error: bool
    filters: list[FilterRun]
    created_at: dt.datetime
    #: Where the job is in the one lifecycle table (wsdsp.jobs.TRANSITIONS).
    state: JobState = JobState.OPEN
    job_state: str = "Started"
    reasons: list[str] = field(default_factory=lambda: ["None"])
    documents: list[Document] = field(default_factory=list)
    completed_state: str | None = None
    completed_at: dt.datetime | None = None
    #: Told (job, state before) after every step: the book's counts.
    on_step: Callable[[ServerJob, JobState], None] | None = field(
        default=None, repr=False, compare=False)

    @property
    def images(self) -> int:
        return len(self.documents)

    @property
    def short(self) -> str:
        return self.token[:8]

    def step(self, what: str) -> None:
        nxt = TRANSITIONS.get((self.state, what))
        if nxt is None:
            raise failed(f"{what} not allowed: job {self.short} is {self.state.value}")
        before, self.state = self.state, nxt
        if self.on_step is not None:
            self.on_step(self, before)

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "JobToken": self.token,
            "JobState": self.job_state,
            "JobStateReasons": {"JobStateReason": list(self.reasons)},
            "FilterStatuses": {"FilterStatus": [f.body() for f in self.filters]},
            "ImagesReceived": self.images,
            "JobCreatedTime": xs_datetime(self.created_at),
        }
        if self.completed_at is not None:
            body["JobCompletedTime"] = xs_datetime(self.completed_at)
        return body

    def description(self) -> dict[str, Any]:
        return {
            "PSP_Identifier": self.psp_id,
            "PSP_DisplayName": display_name(self.psp_id),
            "JobOriginatingUserName": self.user,
        }

    def end_state(self) -> dict[str, Any]:
        return {
            "JobToken": self.token,
            **self.description(),
            "JobCompletedState": self.completed_state or "Aborted",
            "JobCompletedStateReasons": {"JobStateReason": list(self.reasons)},
            "FilterCompletedStatuses": {"FilterStatus": [f.body() for f in self.filters]},
            "ImagesReceived": self.images,
            "JobCompletedTime": xs_datetime(self.completed_at or self.created_at),
        }

    # ------------------------------------------------- filters and the end

    def filter_started(self, index: int) -> None:
        self.job_state = "Processing"
        self.filters[index].state = "Processing"

    def filter_done(self, index: int, problem: str | None = None) -> None:
        """Record one filter's outcome; a problem is a FilterStateReason."""
        run = self.filters[index]
        if problem is None:
            run.state = "CompletedSuccessfully"
            return
        run.state, run.reasons = "CompletedWithErrors", [problem]
        if not self.continue_on_error:
            for later in self.filters[index + 1 :]:
                later.state = "Canceled"

    def should_stop(self) -> bool:
        return not self.continue_on_error and any(
            f.state == "CompletedWithErrors" for f in self.filters
        )

    def complete(self, now: dt.datetime) -> None:
        """All filters ran (or the job stopped at a failing one)."""
        self.step(END_STATE_EVENT)
        self.completed_at = now
        if self.should_stop():
            self.job_state = self.completed_state = "Aborted"
            self.reasons = ["PostScanJobProcessingFailed"]
        else:
            self.job_state = self.completed_state = "Completed"
            errors = any(f.state == "CompletedWithErrors" for f in self.filters)
            self.reasons = [
                "PostScanJobCompletedWithErrors" if errors else "PostScanJobCompletedSuccessfully"
            ]

    def cancel(self, now: dt.datetime) -> None:
        """Canceled, and at its end state at once (the server sends that event now)."""
        self.step("CancelPostScanJob")
        self.step(END_STATE_EVENT)
        self.completed_at = now
        self.job_state = self.completed_state = "Canceled"
        self.reasons = ["PostScanJobCanceled"]
        for run in self.filters:
            run.state = "Canceled"


def display_name(psp_id: str) -> str:
    return f"Simulated scan process {psp_id[:8]}"


class JobBook:
    """All jobs of one server, open and recently finished.  ``max_open``
    bounds open jobs (more is ServerErrorTemporaryError); ``max_finished``
    bounds the finished ones kept for GetPostScanJobElements (the first
    to finish goes first).  Both are kept up to date by each job's steps,
    so no operation looks at every job: a server left running holds
    thousands, and a scan of them all per CreatePostScanJob made its cost
    grow with every job it kept."""

    def __init__(
        self,
        *,
        max_open: int = 10_000,
        max_finished: int = 10_000,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.jobs: OrderedDict[str, ServerJob] = OrderedDict()
        self.max_open = max_open
        self.max_finished = max_finished
        self.clock = clock
        self._open = 0
        self._finished: deque[str] = deque()

    def now(self) -> dt.datetime:
        return self.clock()

    @property
    def open_jobs(self) -> int:
        return self._open

    # ------------------------------------------------------------- operations

    def create(self, request: Message, owner: str) -> ServerJob:
        body = request.body
        _no_extra(request, _CREATE_ARGS)
        user = body.get("UserIdentifier")
        if not isinstance(user, str) or not is_sid(user):
            raise invalid("UserIdentifier", "missing or not a SID")
        psp = body.get("PSP_Identifier")
        if not isinstance(psp, str) or not is_guid(psp):
            raise invalid("PSP_Identifier", "missing or not a GUID")
        instructions = body.get("PostScanInstructions")
        root, continue_on_error, filters = _instructions(instructions)
        if self.open_jobs >= self.max_open:
            raise RemoteProtocolError("too many open jobs", subcode="ServerErrorTemporaryError")
        job = ServerJob(
            token=new_guid(),
            owner=owner,
            user=user.strip(),
            psp_id=normalize_guid(psp),
            document_root=root,
            continue_on_error=continue_on_error,
            filters=filters,
            created_at=self.now(),
            on_step=self._stepped,
        )
        self.jobs[job.token] = job
        self._open += 1
        return job

    def job_for(self, request: Message, *, open_only: bool) -> ServerJob:
        token = request.body.get("JobToken")
        if not isinstance(token, str) or not is_guid(token):
            raise invalid("JobToken", "missing or not a GUID")
        job = self.jobs.get(normalize_guid(token))
        if job is None:
            raise failed(f"unknown JobToken {normalize_guid(token)}")
        if open_only and job.state is not JobState.OPEN:
            raise failed(f"job {job.short} is {job.state.value}")
        return job

    def accept_image(
        self, request: Message, body: bytes | None = None
    ) -> tuple[ServerJob, Document, Attachment, bool]:
        """Check a SendImage; the document is recorded, the bytes are the caller's.

        The last value says whether it is a resend: the same DocumentId with
        the same image (``body`` is the request body, to hash it; without it
        the decoder's hash is used).  DocumentId names a document within the
        job (SendImageRequest.DocumentDescription.DocumentId), so a resend is
        the document already stored: it is answered as before and not stored
        again.  The same DocumentId with another image is InvalidArgs."""
        _no_extra(request, ("JobToken", "DocumentDescription", "ImageData"))
        job = self.job_for(request, open_only=True)
        described = request.body.get("DocumentDescription")
        if not isinstance(described, Mapping):
            raise invalid("DocumentDescription", "missing")
        doc_id = described.get("DocumentId")
        if not isinstance(doc_id, int) or isinstance(doc_id, bool):
            raise invalid("DocumentDescription/DocumentId", "missing or not an integer")
        fmt = described.get("Format")
        if not isinstance(fmt, str) or fmt.strip() not in FORMATS:
            raise invalid("DocumentDescription/Format", "missing or not a spec Format")
        attachment = _attachment(request)
        digest = (
            hashlib.sha256(attachment.data(body)).hexdigest() if body is not None
            else attachment.sha256
        )
        known = next((d for d in job.documents if d.document_id == doc_id), None)
        if known is not None:
            if digest and known.digest == digest:
                return job, known, attachment, True
            raise invalid(
                "DocumentDescription/DocumentId",
                f"DocumentId {doc_id} already sent in this job with another image",
            )
        job.step("SendImage")
        job.job_state = "Processing"
        document = Document(doc_id, fmt.strip(), attachment.size, digest=digest)
        job.documents.append(document)
        return job, document, attachment, False

    def end(self, request: Message) -> ServerJob:
        _no_extra(request, ("JobToken",))
        job = self.job_for(request, open_only=True)
        job.step("EndPostScanJob")
        job.job_state = "Processing"
        return job

    def cancel(self, request: Message) -> ServerJob:
        _no_extra(request, ("JobToken",))
        job = self.job_for(request, open_only=True)
        job.cancel(self.now())
        return job

    def elements(self, request: Message) -> tuple[ServerJob, dict[str, Any]]:
        """GetPostScanJobElements: the response body; unknown names are Valid=false."""
        _no_extra(request, ("JobToken", "RequestedElements"))
        job = self.job_for(request, open_only=False)
        wanted = request.body.get("RequestedElements")
        names = wanted.get("Name") if isinstance(wanted, Mapping) else None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise invalid("RequestedElements", "no Name to look up")
        data = []
        for name in names:
            local = _element_name(name)
            if local == "JobStatus":
                data.append({"@Name": name, "@Valid": True, "JobStatus": job.status()})
            elif local == "JobDescription":
                data.append({"@Name": name, "@Valid": True, "JobDescription": job.description()})
            else:
                data.append({"@Name": name, "@Valid": False})
        return job, {"JobElements": {"ElementData": data}}

    def _stepped(self, job: ServerJob, before: JobState) -> None:
        self._open += (job.state in _OPEN) - (before in _OPEN)
        if job.state is JobState.FINISHED and before is not JobState.FINISHED:
            self._finished.append(job.token)
            while len(self._finished) > self.max_finished:
                self.jobs.pop(self._finished.popleft(), None)


#: The states that count against ``max_open``.
_OPEN = frozenset({JobState.OPEN, JobState.ENDED})


def _element_name(name: str) -> str | None:
    """The decoder writes QNames in the dsp namespace as dsp:Name; a bare
    name is taken as meaning the same (devices often omit the prefix)."""
    prefix, _, local = name.strip().rpartition(":")
    return local if prefix in ("", "dsp") and local in _ELEMENTS else None


def _no_extra(request: Message, allowed: Sequence[str]) -> None:
    """Unknown children in the dsp namespace are invalid arguments; other
    namespaces are vendor extensions, which the schema allows."""
    root = request.body_name or ""
    for key in request.body:
        if key.startswith("@") or key == "#text" or key in allowed:
            continue
        if request.namespaces.get(f"{root}/{key}", DSP) == DSP:
            raise invalid(key, "not an argument of this operation")


def _instructions(value: Any) -> tuple[str, bool, list[FilterRun]]:
    """(DocumentRootName, ContinueOnError, filters) of PostScanInstructions."""
    base = "PostScanInstructions"
    if not isinstance(value, Mapping):
        raise invalid(base, "missing")
    root = value.get("DocumentRootName")
    if not isinstance(root, str) or not root.strip():
        raise invalid(f"{base}/DocumentRootName", "missing or empty")
    cont = value.get("ContinueOnError", False)
    if not isinstance(cont, bool):
        raise invalid(f"{base}/ContinueOnError", "not an xs:boolean")
    to_process = value.get("FiltersToProcess")
    entries = to_process.get("Filter") if isinstance(to_process, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise invalid(f"{base}/FiltersToProcess", "no Filter")
    filters = []
    for i, entry in enumerate(entries, 1):
        dialect = entry.get("Dialect") if isinstance(entry, Mapping) else None
        instructions = entry.get("Instructions") if isinstance(entry, Mapping) else None
        if not isinstance(dialect, str) or not dialect.strip():
            raise invalid(f"{base}/FiltersToProcess/Filter[{i}]/Dialect", "missing")
        if not isinstance(instructions, Mapping) or not instructions:
            raise invalid(f"{base}/FiltersToProcess/Filter[{i}]/Instructions", "missing")
        filters.append(FilterRun(dialect.strip(), instructions))
    return root.strip(), cont, filters


def _attachment(request: Message) -> Attachment:
    data = request.body.get("ImageData")
    include = data.get("Include") if isinstance(data, Mapping) else None
    href = include.get("@href") if isinstance(include, Mapping) else None
    if not isinstance(href, str) or not href.strip():
        raise invalid("ImageData", "no xop:Include with an href")
    cid = normalize_cid(href)
    for attachment in request.attachments:
        if attachment.content_id == cid:
            if attachment.size == 0:
                raise invalid("ImageData", f"attachment {cid} is empty")
            return attachment
    raise invalid("ImageData", f"no MIME part with Content-ID {cid}")
