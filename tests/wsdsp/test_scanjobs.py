"""The job tracker follows WS-Scan jobs: CreateScanJob, RetrieveImage per
page, and the end (the platen's one page, the empty feeder, CancelJob, the
end-state event), found by JobToken or by JobId alone."""

from __future__ import annotations

from typing import Any

from dspscope.wsdsp import Message, scanbuild
from dspscope.wsdsp.build import roundtrip
from dspscope.wsdsp.jobs import JobState, JobTracker

URL = "http://scanner.test/WSDScan"


def _ticket(source: str, images: int = 0) -> dict[str, Any]:
    return {"ScanTicket": {
        "JobDescription": {"JobName": "scan", "JobOriginatingUserName": "alice"},
        "DocumentParameters": {"Format": "png", "ImagesToTransfer": images,
                               "InputSource": source}}}


def _create(tracker: JobTracker, source: str, job_id: int, token: str, images: int = 0):
    request = roundtrip(scanbuild.request("CreateScanJob", _ticket(source, images), to=URL))
    response = roundtrip(scanbuild.response(request, {
        "JobId": job_id, "JobToken": token, "ImageInformation": {}}))
    return tracker.exchange(request, response, device="10.0.0.5", exchange_id="c", time=1.0)


def _retrieve(tracker: JobTracker, job_id: int, token: str, *, fault: str | None = None,
              device: str = "10.0.0.5", time: float = 2.0):
    request = roundtrip(scanbuild.request("RetrieveImage", {
        "JobId": job_id, "JobToken": token, "DocumentDescription": {"DocumentName": "x"}},
        to=URL))
    response: Message = (scanbuild.fault(request, fault) if fault else
                         scanbuild.response(request, scanbuild.scan_data("p@x")))
    return tracker.exchange(request, roundtrip(response), device=device, exchange_id="r",
                            time=time)


def test_a_platen_job_ends_with_its_one_page() -> None:
    tracker = JobTracker()
    created = _create(tracker, "Platen", 7, "tok-7")
    job = created.job
    assert job is not None and job.protocol == "ws-scan" and job.state is JobState.OPEN
    assert (job.job_id, job.user, job.source) == (7, "alice", "Platen")
    seen = _retrieve(tracker, 7, "tok-7", time=3.0)
    assert seen.job is job and seen.findings == ()
    assert job.images == 1 and job.state is JobState.ENDED and job.outcome == "Completed"
    assert tracker.job("tok-7") is job
    # Over for the client, but its events may still come: summarised later.
    assert tracker.retire_if_done(job) is None and tracker.finish() == []
    [summary] = tracker.evict(before=float("inf"))
    assert summary["protocol"] == "ws-scan" and summary["job_id"] == 7
    assert summary["duration"] == 2.0 and summary["outcome"] == "Completed"


def test_a_feeder_job_ends_when_the_feeder_is_empty() -> None:
    tracker = JobTracker()
    job = _create(tracker, "ADF", 8, "tok-8").job
    for _ in range(3):
        _retrieve(tracker, 8, "tok-8")
    assert job is not None and job.state is JobState.OPEN and job.images == 3
    seen = _retrieve(tracker, 8, "tok-8", fault="ClientErrorNoImagesAvailable")
    assert seen.findings == ()
    assert job.state is JobState.ENDED and job.outcome == "Completed" and job.faults == ()
    assert tracker.finish() == []


def test_images_to_transfer_bounds_a_feeder_job() -> None:
    tracker = JobTracker()
    job = _create(tracker, "ADFDuplex", 9, "tok-9", images=2).job
    _retrieve(tracker, 9, "tok-9")
    _retrieve(tracker, 9, "tok-9")
    assert job is not None and job.state is JobState.ENDED
    late = _retrieve(tracker, 9, "tok-9")
    assert [f.code for f in late.findings] == ["job.after-end"]


def test_cancel_and_events_find_the_job_by_its_id() -> None:
    tracker = JobTracker()
    job = _create(tracker, "ADF", 10, "tok-10").job
    status = roundtrip(scanbuild.event("JobStatusEvent", {"JobStatus": {
        "JobId": 10, "JobState": "Processing", "ScansCompleted": 0}}, to=URL))
    assert tracker.event(status, exchange_id="e", time=2.0).job is job
    cancel = roundtrip(scanbuild.request("CancelJob", {"JobId": 10}, to=URL))
    seen = tracker.exchange(cancel, roundtrip(scanbuild.response(cancel)), device="10.0.0.5",
                            exchange_id="x", time=3.0)
    assert seen.job is job and job is not None
    assert job.state is JobState.CANCELED and job.outcome == "Canceled"
    assert job.exchanges == ("c", "e", "x") and job.events == 1
    end = roundtrip(scanbuild.event("JobEndStateEvent", {"JobEndState": {
        "JobId": 10, "JobCompletedState": "Canceled", "ScansCompleted": 0}}, to=URL))
    assert tracker.event(end, exchange_id="z", time=4.0).job is job
    assert job.state is JobState.FINISHED and tracker.retire_if_done(job) is not None


def test_the_end_state_event_ends_a_job() -> None:
    tracker = JobTracker()
    job = _create(tracker, "ADF", 11, "tok-11").job
    end = roundtrip(scanbuild.event("JobEndStateEvent", {"JobEndState": {
        "JobId": 11, "JobCompletedState": "Aborted", "ScansCompleted": 0}}, to=URL))
    tracker.event(end, time=5.0)
    assert job is not None and job.outcome == "Aborted" and job.images_reported == 0
    assert job.state is JobState.FINISHED


def test_sequence_findings() -> None:
    tracker = JobTracker()
    stranger = _retrieve(tracker, 1, "never-issued")
    assert [f.code for f in stranger.findings] == ["job.unknown-token"]
    _create(tracker, "ADF", 12, "tok-12")
    other = _retrieve(tracker, 12, "tok-12", device="10.0.0.6")
    assert [f.code for f in other.findings] == ["job.other-device"]
    failed = roundtrip(scanbuild.request("CreateScanJob", _ticket("Film"), to=URL))
    seen = tracker.exchange(failed, roundtrip(scanbuild.fault(failed, "InvalidArgs")),
                            device="10.0.0.5", time=1.0)
    assert seen.job is not None and seen.job.state is JobState.FAILED
    assert [f.code for f in tracker.finish()] == ["job.never-ended"]  # tok-12 never ended
