"""The job tracker: jobs kept apart by JobToken across devices, the
lifecycle table, and every sequence finding."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dspscope.wsdsp import Message, build, decode, encode
from dspscope.wsdsp.jobs import DONE, TRANSITIONS, JobState, JobTracker, Observation
from tests.wsdsp import support

SERVER = support.SERVER
SINK = support.SINK
T1 = "11111111-1111-4111-8111-111111111111"
T2 = "22222222-2222-4222-8222-222222222222"
T3 = "33333333-3333-4333-8333-333333333333"
DEV_A, DEV_B = "10.0.0.5", "10.0.0.6"


def wire(message: Message, request: Message | None = None) -> Message:
    """What the tracker is fed in real use: the decoded bytes."""
    encoded = encode(message)
    return decode(encoded.content, encoded.content_type, request=request)


def create(user: str = support.USER) -> Message:
    return wire(build.create_post_scan_job(to=SERVER, user=user, psp_id=support.PSP,
                                           document_root="Scan-" + user[-3:]))


def codes(obs: Observation | list[Any]) -> list[str]:
    findings = obs.findings if isinstance(obs, Observation) else obs
    return [f.code for f in findings]


class Device:
    """A device's side of the conversation, fed to one tracker."""

    def __init__(self, tracker: JobTracker, address: str) -> None:
        self.tracker = tracker
        self.address = address
        self.clock = 0.0

    def send(self, request: Message, response: Message | None) -> Observation:
        self.clock += 1
        return self.tracker.exchange(request, response, device=self.address,
                                     exchange_id=f"{self.address}#{self.clock:g}", time=self.clock)

    def open_job(self, token: str) -> Observation:
        request = create()
        return self.send(request, wire(build.response(request, {"JobToken": token}), request))

    def image(self, token: str, doc: int, *, answer: str = "response") -> Observation:
        request = wire(build.send_image(to=SERVER, token=token, document_id=doc, format="png",
                                        content_id=f"p{doc}@d"))
        response: Message | None = None
        if answer == "response":
            response = wire(build.response(request), request)
        elif answer == "fault":
            response = wire(build.fault(request, "OperationFailed"), request)
        return self.send(request, response)

    def close(self, token: str, operation: str = "EndPostScanJob") -> Observation:
        request = wire(build.job_request(operation, to=SERVER, token=token))
        return self.send(request, wire(build.response(request), request))


def status_event(token: str, images: int | None = None, state: str = "Processing") -> Message:
    status: dict[str, Any] = {"JobToken": token, "JobState": state}
    if images is not None:
        status["ImagesReceived"] = images
    return wire(build.event("PostScanJobStatusEvent", {"JobStatus": status}, to=SINK))


def end_state_event(token: str, images: int, outcome: str = "Completed") -> Message:
    return wire(build.event("PostScanJobEndStateEvent", {"PostScanJobEndState": {
        "JobToken": token, "JobCompletedState": outcome, "ImagesReceived": images}}, to=SINK))


@pytest.fixture
def tracker() -> JobTracker:
    return JobTracker()


def test_one_clean_job(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    seen = [dev.open_job(T1), dev.image(T1, 1), dev.image(T1, 2), dev.close(T1)]
    assert all(codes(o) == [] for o in seen)
    assert codes(tracker.event(status_event(T1, 2, "Completed"), time=10)) == []
    assert codes(tracker.event(end_state_event(T1, 2), time=11)) == []
    job = tracker.job(T1.upper())
    assert job is not None
    assert (job.state, job.images, job.outcome, job.device, job.events) == (
        JobState.FINISHED, 2, "Completed", DEV_A, 2)
    assert job.user == support.USER and job.document_root == "Scan-500"
    assert len(job.exchanges) == 4 and job.findings == ()
    assert tracker.finish() == []


def test_two_interleaved_jobs_from_two_devices(tracker: JobTracker) -> None:
    a, b = Device(tracker, DEV_A), Device(tracker, DEV_B)
    steps = [
        a.open_job(T1), b.open_job(T2),
        a.image(T1, 1), b.image(T2, 1), b.image(T2, 2), a.image(T1, 2),
        tracker.event(status_event(T2, 2)), a.image(T1, 3),
        b.close(T2), tracker.event(end_state_event(T2, 2)),
        a.close(T1), tracker.event(end_state_event(T1, 3)),
    ]
    assert [codes(s) for s in steps] == [[]] * len(steps)  # DocumentIds repeat only across jobs
    job_a, job_b = tracker.job(T1), tracker.job(T2)
    assert job_a is not None and job_b is not None
    assert (job_a.device, job_a.images, job_a.document_ids) == (DEV_A, 3, {1, 2, 3})
    assert (job_b.device, job_b.images, job_b.document_ids) == (DEV_B, 2, {1, 2})
    assert job_a.state is job_b.state is JobState.FINISHED
    assert all(x.startswith(DEV_A) for x in job_a.exchanges)
    assert all(x.startswith(DEV_B) for x in job_b.exchanges)


def test_cancelled_job(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.image(T1, 1)
    assert codes(dev.close(T1, "CancelPostScanJob")) == []
    job = tracker.job(T1)
    assert job is not None and job.state is JobState.CANCELED and job.ended_at is not None
    # the server's count may differ after a cancel: not a finding
    assert codes(tracker.event(end_state_event(T1, 0, "Canceled"))) == []
    assert job.state is JobState.FINISHED and job.outcome == "Canceled"
    assert tracker.finish() == []


def test_unknown_token(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    assert codes(dev.image(T1, 1)) == ["job.unknown-token"]
    assert codes(dev.close(T2)) == ["job.unknown-token"]
    assert codes(tracker.event(status_event(T1))) == []  # it may have overtaken its job's creation
    assert "job.unknown-token" in codes(tracker.finish())


@pytest.mark.parametrize("closing", ["EndPostScanJob", "CancelPostScanJob"])
def test_send_image_after_the_end(tracker: JobTracker, closing: str) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.close(T1, closing)
    obs = dev.image(T1, 9)
    assert codes(obs) == ["job.after-end"]
    assert obs.job is not None and obs.job.images == 0
    assert codes(dev.close(T1, closing)) == ["job.after-end"]


def test_elements_and_status_allowed_after_the_end(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.close(T1)
    request = wire(build.get_elements(to=SERVER, token=T1))
    assert codes(dev.send(request, wire(build.response(request), request))) == []
    assert codes(tracker.event(status_event(T1, 0))) == []


def test_duplicate_document_id(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.image(T1, 4)
    assert codes(dev.image(T1, 4)) == ["job.duplicate-document-id"]
    job = tracker.job(T1)
    assert job is not None and [f.code for f in job.findings] == ["job.duplicate-document-id"]


def test_relates_to_unmatched_and_mismatched(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    first = create()
    dev.send(first, wire(build.response(first, {"JobToken": T1}), first))
    request = wire(build.job_request("EndPostScanJob", to=SERVER, token=T1))
    stranger = replace(build.response(request), relates_to="urn:uuid:0badc0de-0000-4000-8000-000000000000")
    assert codes(dev.send(request, stranger)) == ["wsa.relates-to-unmatched"]
    other = wire(build.job_request("CancelPostScanJob", to=SERVER, token=T2))
    answering_first = replace(build.response(other), relates_to=first.message_id)
    assert codes(dev.send(other, answering_first))[:1] == ["wsa.relates-to-mismatch"]


def test_relates_to_matches_in_any_guid_spelling(tracker: JobTracker) -> None:
    request = create()
    assert request.message_id is not None
    response = build.response(request, {"JobToken": T1})
    loud = "{" + request.message_id.removeprefix("urn:uuid:").upper() + "}"
    assert codes(tracker.exchange(request, replace(response, relates_to=loud))) == []


def test_never_ended_via_finish(tracker: JobTracker) -> None:
    a, b = Device(tracker, DEV_A), Device(tracker, DEV_B)
    a.open_job(T1)
    b.open_job(T2)
    b.close(T2)
    found = tracker.finish()
    assert codes(found) == ["job.never-ended"] and T1 in found[0].text
    job = tracker.job(T1)
    assert job is not None and codes(job.findings) == ["job.never-ended"]


def test_never_ended_via_evict(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)  # at time 1
    dev.open_job(T2)  # at time 2
    dev.close(T2)
    tracker.event(end_state_event(T2, 0), time=4)
    gone = tracker.evict(before=2.5)
    by_token = {s["token"]: s for s in gone}
    assert set(by_token) == {T1, T2}  # T1 idle, T2 done
    assert [f["code"] for f in by_token[T1]["findings"]] == ["job.never-ended"]
    assert by_token[T2]["findings"] == () and by_token[T2]["state"] == "finished"
    assert tracker.job(T1) is None and list(tracker.finished) == gone


def test_kept_summaries_leave_the_collectors_lists(tracker: JobTracker) -> None:
    """The tracker keeps 10,000 summaries; one of strings, numbers and
    tuples (a job without findings, the common case) stops costing every
    full pass of the garbage collector once it has seen it, where lists
    would keep it there for good.  (A tuple that holds dicts, the findings,
    stays: CPython untracks only tuples of untracked items that are not
    dicts.)"""
    import gc

    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.close(T1)
    tracker.event(end_state_event(T1, 0), time=4)
    [summary] = tracker.evict(before=5)
    assert summary["findings"] == () and summary["state"] == "finished"
    gc.collect()
    gc.collect()
    assert not gc.is_tracked(tracker.finished[0])


def test_images_mismatch(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.image(T1, 1)
    dev.image(T1, 2, answer="fault")  # not acknowledged
    dev.image(T1, 3, answer="none")  # no answer: not acknowledged either
    assert codes(tracker.event(status_event(T1, 5))) == []  # mid-job counts may run ahead
    dev.close(T1)
    # a queued status event may still carry an older count: only final reports count
    assert codes(tracker.event(status_event(T1, 2))) == []
    assert codes(tracker.event(status_event(T1, 2, "Completed"))) == ["job.images-mismatch"]
    assert codes(tracker.event(end_state_event(T1, 1))) == []
    job = tracker.job(T1)
    assert job is not None and job.images == 1 and job.images_reported == 1


def test_images_mismatch_on_the_end_state(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.image(T1, 1)
    dev.close(T1)
    assert codes(tracker.event(end_state_event(T1, 3))) == ["job.images-mismatch"]


def test_garbage_answer_acknowledges_nothing(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    request = wire(build.send_image(to=SERVER, token=T1, document_id=1, format="png", content_id="p@d"))
    dev.send(request, decode(b"<html>502 Bad Gateway</html>"))
    job = tracker.job(T1)
    assert job is not None and job.images == 0


def test_other_device(tracker: JobTracker) -> None:
    a, b = Device(tracker, DEV_A), Device(tracker, DEV_B)
    a.open_job(T1)
    assert codes(b.image(T1, 1)) == ["job.other-device"]


def test_failed_creation(tracker: JobTracker) -> None:
    request = create()
    obs = tracker.exchange(request, wire(build.fault(request, "InvalidArgs", "PSP_Identifier"), request))
    assert obs.job is not None and obs.job.state is JobState.FAILED
    assert obs.job.faults == ("CreatePostScanJob: InvalidArgs",)
    assert tracker.finish() == []


def test_a_failed_creation_is_retired_under_its_own_key(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    request = create()
    failed = tracker.exchange(request, wire(build.fault(request, "InvalidArgs", "PSP_Identifier"),
                                            request)).job
    dev.open_job(T2)
    assert failed is not None and len(tracker.jobs) == 3
    summary = tracker.retire_if_done(failed)
    assert summary is not None and summary["state"] == "failed"
    assert list(tracker.jobs) == [T1, T2]


def test_fault_answer_leaves_the_job_as_it_was(tracker: JobTracker) -> None:
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    request = wire(build.job_request("EndPostScanJob", to=SERVER, token=T1))
    obs = dev.send(request, wire(build.fault(request, "ServerErrorTemporaryError"), request))
    assert obs.job is not None and obs.job.state is JobState.OPEN
    assert codes(dev.close(T1)) == []


def test_not_ws_dsp_is_ignored(tracker: JobTracker) -> None:
    built = support.built_messages()
    message, _ = built["probe"]
    response, _ = built["probe-matches"]
    assert tracker.exchange(message, response) == Observation(None, ())
    assert tracker.event(wire(build.subscribe(to=SERVER, notify_to=SINK))) == Observation(None, ())


def test_live_jobs_are_bounded() -> None:
    tracker = JobTracker(max_jobs=10, max_summaries=25, max_message_ids=40)
    dev = Device(tracker, DEV_A)
    tokens = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(60)]
    for token in tokens[:5]:
        dev.open_job(token)
        dev.close(token)
        tracker.event(end_state_event(token, 0))
    for token in tokens[5:]:
        dev.open_job(token)
    assert len(tracker.jobs) == 10
    assert list(tracker.jobs) == tokens[-10:]  # the finished went first, then the oldest
    assert len(tracker.finished) == 25
    assert len(tracker.ids) <= 40


def test_transition_table_is_what_the_docstring_says() -> None:
    assert TRANSITIONS[(JobState.OPEN, "SendImage")] is JobState.OPEN
    assert (JobState.ENDED, "SendImage") not in TRANSITIONS
    assert (JobState.CANCELED, "EndPostScanJob") not in TRANSITIONS
    for state in JobState:
        assert TRANSITIONS[(state, "GetPostScanJobElements")] is state
        assert TRANSITIONS[(state, "PostScanJobStatusEvent")] is state
    assert DONE == {JobState.FINISHED, JobState.FAILED}


def test_late_messages_for_an_evicted_job(tracker: JobTracker) -> None:
    """Eviction forgets a job's details, not that it was issued and ended."""
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.close(T1)
    tracker.event(end_state_event(T1, 0), time=5)
    assert [s["token"] for s in tracker.evict(before=0)] == [T1]
    assert codes(dev.image(T1, 1)) == ["job.after-end"]
    assert codes(tracker.event(status_event(T1, 0))) == []
    request = wire(build.get_elements(to=SERVER, token=T1))
    assert codes(dev.send(request, wire(build.response(request), request))) == []
    assert codes(dev.image(T2, 1)) == ["job.unknown-token"]


def test_the_bound_forgets_the_first_job_to_finish_first() -> None:
    tracker = JobTracker(max_jobs=2)
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.open_job(T2)
    for token in (T2, T1):
        dev.close(token)
        tracker.event(end_state_event(token, 0))
    dev.open_job(T3)
    assert list(tracker.jobs) == [T1, T3]
    assert [s["token"] for s in tracker.finished] == [T2]


def test_jobs_pushed_out_by_the_bound_are_remembered_as_ended() -> None:
    tracker = JobTracker(max_jobs=1)
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.close(T1, "CancelPostScanJob")
    dev.open_job(T2)  # pushes T1 out
    assert tracker.job(T1) is None
    assert codes(dev.image(T1, 1)) == ["job.after-end"]


def test_finish_reports_each_open_job_once(tracker: JobTracker) -> None:
    Device(tracker, DEV_A).open_job(T1)
    assert codes(tracker.finish()) == ["job.never-ended"]
    assert tracker.finish() == []
    job = tracker.job(T1)
    assert job is not None and codes(job.findings) == ["job.never-ended"]


SEQUENCE_CODES = {"job.unknown-token", "job.after-end", "job.duplicate-document-id", "job.resend",
                  "wsa.relates-to-unmatched", "wsa.relates-to-mismatch", "job.never-ended",
                  "job.images-mismatch", "job.other-device", "job.token-reused",
                  "job.completed-without-end", "wsa.duplicate-message-id"}


def page(token: str, doc: int, image: bytes, message: Message | None = None) -> Message:
    """A SendImage with its image part, as decoded off the wire (hashed)."""
    from dspscope.wsdsp import AttachmentData

    request = message or build.send_image(to=SERVER, token=token, document_id=doc, format="png",
                                          content_id=f"p{doc}@d")
    encoded = encode(request, (AttachmentData(f"p{doc}@d", image, "image/png"),))
    return decode(encoded.content, encoded.content_type)


def test_a_resend_after_a_lost_answer_is_info_and_counts_once() -> None:
    tracker = JobTracker()
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    first = page(T1, 1, b"page one")
    lost = dev.send(first, wire(build.fault(first, "ServerErrorTemporaryError"), first))
    assert codes(lost) == []
    again = page(T1, 1, b"page one", message=replace(build.send_image(
        to=SERVER, token=T1, document_id=1, format="png", content_id="p1@d"),
        message_id=first.message_id))
    seen = dev.send(again, wire(build.response(again), again))
    assert codes(seen) == ["job.resend"] and seen.findings[0].severity == "info"
    assert "same MessageID" in seen.findings[0].text
    # the answer came, then was lost again: a fresh MessageID, the same page
    fresh = page(T1, 1, b"page one")
    seen = dev.send(fresh, wire(build.response(fresh), fresh))
    assert codes(seen) == ["job.resend"] and "DocumentId 1 sent again" in seen.findings[0].text
    job = tracker.job(T1)
    assert job is not None and job.images == 1
    # another page under a DocumentId already used is no resend
    clash = page(T1, 1, b"another page")
    assert codes(dev.send(clash, wire(build.response(clash), clash))) == ["job.duplicate-document-id"]


def test_a_resent_end_or_create_takes_no_second_step() -> None:
    tracker = JobTracker()
    dev = Device(tracker, DEV_A)
    request = create()
    answer = wire(build.response(request, {"JobToken": T1}), request)
    dev.send(request, answer)
    assert codes(dev.send(request, answer)) == ["job.resend"]
    assert len(tracker.jobs) == 1
    dev.send(page(T1, 1, b"p"), None)
    end = wire(build.job_request("EndPostScanJob", to=SERVER, token=T1))
    assert codes(dev.send(end, wire(build.response(end), end))) == []
    assert codes(dev.send(end, wire(build.response(end), end))) == ["job.resend"]
    job = tracker.job(T1)
    assert job is not None and job.state is JobState.ENDED



STEP = st.tuples(
    st.sampled_from(["open", "image", "image-fault", "image-silent", "end", "cancel", "elements",
                     "status", "end-state", "stranger", "evict", "finish"]),
    st.sampled_from([T1, T2, "33333333-3333-4333-8333-333333333333"]),
    st.sampled_from([DEV_A, DEV_B]),
    st.integers(0, 3),
)


@settings(max_examples=150, deadline=timedelta(seconds=2))
@given(steps=st.lists(STEP, max_size=40))
def test_any_sequence_keeps_the_tracker_sound(steps: list[tuple[str, str, str, int]]) -> None:
    """Whatever order devices and server do things in: no exception, only
    documented codes, bounded state, counts that make sense."""
    tracker = JobTracker(max_jobs=2, max_summaries=3, max_message_ids=8)
    devices = {DEV_A: Device(tracker, DEV_A), DEV_B: Device(tracker, DEV_B)}
    seen: list[str] = []
    for what, token, address, n in steps:
        dev = devices[address]
        if what == "open":
            obs = dev.open_job(token)
        elif what.startswith("image"):
            obs = dev.image(token, n, answer={"image": "response", "image-fault": "fault"}.get(what, "none"))
        elif what in ("end", "cancel"):
            obs = dev.close(token, "EndPostScanJob" if what == "end" else "CancelPostScanJob")
        elif what == "elements":
            request = build.get_elements(to=SERVER, token=token)
            obs = dev.send(request, build.response(request))
        elif what == "status":
            obs = tracker.event(status_event(token, n, "Completed"))
        elif what == "end-state":
            obs = tracker.event(end_state_event(token, n))
        elif what == "stranger":
            request = build.job_request("EndPostScanJob", to=SERVER, token=token)
            obs = dev.send(request, replace(build.response(request), relates_to=f"urn:uuid:{token}"))
        elif what == "evict":
            gone = tracker.evict(before=dev.clock - n)
            seen += [f["code"] for s in gone for f in s["findings"]]
            continue
        else:
            seen += codes(tracker.finish())
            continue
        seen += codes(obs)
        assert len(tracker.jobs) <= 2 and len(tracker.finished) <= 3
        assert len(tracker.ids) <= 8
        # the bound's line of done jobs is exactly the live jobs that are done
        assert set(tracker._done) == {k for k, j in tracker.jobs.items() if j.state in DONE}
        for job in tracker:
            assert 0 <= job.images <= len(steps)
    assert set(seen) <= SEQUENCE_CODES


def test_an_ended_job_keeps_no_image_digests(tracker: JobTracker) -> None:
    """What tells a resend from a clash is needed while images come: once
    the job has ended it is let go (a viewer keeps every job), and what a
    late image means is the same."""
    dev = Device(tracker, DEV_A)
    dev.open_job(T1)
    dev.image(T1, 1)
    dev.image(T1, 2)
    job = tracker.job(T1)
    assert job is not None and len(job.document_images) == 2 and job.acknowledged == {1, 2}
    assert codes(dev.close(T1)) == []
    assert job.document_images == {} and job.acknowledged == set()
    assert job.document_ids == {1, 2} and job.images == 2
    assert codes(dev.image(T1, 2)) == ["job.after-end"]
    assert job.images == 2
