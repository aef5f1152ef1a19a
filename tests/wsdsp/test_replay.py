"""The pure part of replay: matching, regeneration, rewriting, comparison.

A small recorded session is built with the builders (two jobs, one failed
create, events, a subscription, metadata) and fed through ServerReplay and
ClientReplay as a live peer would."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from dspscope.wsdsp import build, decode, encode
from dspscope.wsdsp.codec import AttachmentData
from dspscope.wsdsp.messages import Message
from dspscope.wsdsp.replay import (
    Capture,
    ClientReplay,
    Keys,
    Recorded,
    Rewriter,
    ServerReplay,
    compare_exchange,
    compare_messages,
    notify_to,
    plan,
    recorded,
)
from dspscope.wsdsp.values import new_guid, normalize_guid

SERVER = "https://scan.example.test:5362"
SERVICE = "6f1c2e0a-3b7d-4c1e-9a55-2d8e4b7f0c13"
ENDPOINT = f"{SERVER}/ScanServer/{SERVICE}"
DEVICE = "10.0.0.5"
SINK = "http://10.0.0.5:6000/events"
USER = "S-1-5-21-3623811015-3361044348-30300820-1013"
PSP = "9e3b5a6c-1d2f-4b8a-8c7e-5f0a1b2c3d4e"
T1 = "11111111-2222-4333-8444-555555555555"
T2 = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
SUB = "urn:uuid:99999999-8888-4777-8666-555555555555"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Session:
    """Builds recorded exchanges with increasing times."""

    def __init__(self) -> None:
        self.items: list[Recorded] = []
        self.clock = 1000.0

    def exchange(self, req: Message, resp: Message | None, *, status: int | None = None,
                 attachments: tuple[AttachmentData, ...] = (), device: str = DEVICE,
                 url: str = ENDPOINT, took: float = 0.05) -> Recorded:
        sent = encode(req, attachments)
        started = self.clock
        self.clock += took + 0.01
        body = encode(resp) if resp is not None else None
        if status is None and resp is not None:
            status = build.fault_status(resp) if resp.kind == "fault" else 200
        rec = recorded(
            index=len(self.items), id=f"flow-{len(self.items)}", device=device, method="POST",
            url=url, request_body=sent.content, request_content_type=sent.content_type,
            status=status, response_body=body.content if body else None,
            response_content_type=body.content_type if body else None,
            started=started, sent=started + 0.01, answered=started + took, ended=started + took,
        )
        self.items.append(rec)
        return rec

    def event(self, msg: Message, *, after: float = 0.2) -> Recorded:
        self.clock += after
        sent = encode(msg)
        rec = recorded(
            index=len(self.items), id=f"flow-{len(self.items)}", device=DEVICE, method="POST",
            url=SINK, request_body=sent.content, request_content_type=sent.content_type,
            status=202, response_body=b"", response_content_type=None,
            started=self.clock, sent=self.clock, answered=self.clock + 0.001,
            ended=self.clock + 0.001,
        )
        self.clock += 0.01
        self.items.append(rec)
        return rec


def status_event(token: str, state: str, images: int = 0) -> Message:
    return build.event("PostScanJobStatusEvent", {"JobStatus": {
        "JobToken": token, "JobState": state, "ImagesReceived": images,
        "JobCreatedTime": "2024-05-01T10:00:00Z"}}, to=SINK)


def end_event(token: str, images: int) -> Message:
    return build.event("PostScanJobEndStateEvent", {"PostScanJobEndState": {
        "JobToken": token, "PSP_Identifier": PSP, "PSP_DisplayName": "Invoices",
        "JobOriginatingUserName": "alice", "JobCompletedState": "Completed",
        "JobCompletedStateReasons": {"JobStateReason": ["PostScanJobCompletedSuccessfully"]},
        "FilterCompletedStatuses": {"FilterStatus": [{"Dialect": "x", "FilterState": "CompletedSuccessfully"}]},
        "ImagesReceived": images, "JobCompletedTime": "2024-05-01T10:00:05Z"}}, to=SINK)


def image(to: str, token: str, doc: int) -> tuple[Message, tuple[AttachmentData, ...]]:
    cid = f"page{doc}.{token}@device"  # as devices do: the token in the content id
    return (build.send_image(to=to, token=token, document_id=doc, format="png", content_id=cid),
            (AttachmentData(cid, PNG + bytes([doc]), "image/png"),))


def session() -> list[Recorded]:
    s = Session()
    get = build.transfer_get(to=f"{SERVER}/ScanServer")
    s.exchange(get, build.transfer_get_response(get, hosted_address=ENDPOINT, service_id="svc"),
               url=f"{SERVER}/ScanServer")
    sub = build.subscribe(to=ENDPOINT, notify_to=SINK)
    s.exchange(sub, build.subscribe_response(sub, manager=ENDPOINT + "/sub", identifier=SUB,
                                             expires="2024-05-01T11:00:00Z"))
    create = build.create_post_scan_job(to=ENDPOINT, user=USER, psp_id=PSP)
    s.exchange(create, build.response(create, {"JobToken": T1}))           # 2
    s.event(status_event(T1, "Started"), after=0.3)                        # 3
    for doc in (1, 2):                                                     # 4, 5
        req, att = image(ENDPOINT, T1, doc)
        s.exchange(req, build.response(req), attachments=att)
    end = build.job_request("EndPostScanJob", to=ENDPOINT, token=T1)
    s.exchange(end, build.response(end))                                   # 6
    s.event(status_event(T1, "Processing", 2), after=0.1)                  # 7
    s.event(end_event(T1, 2), after=0.5)                                   # 8
    failed = build.create_post_scan_job(to=ENDPOINT, user=USER, psp_id=PSP)
    s.exchange(failed, build.fault(failed, "ServerErrorTemporaryError"))   # 9
    create2 = build.create_post_scan_job(to=ENDPOINT, user=USER, psp_id=PSP, document_root="Two")
    s.exchange(create2, build.response(create2, {"JobToken": T2}))        # 10
    elements = build.get_elements(to=ENDPOINT, token=T2)
    s.exchange(elements, build.response(elements, {"JobElements": {"ElementData": [
        {"@Name": "dsp:JobStatus", "@Valid": True, "JobStatus": {
            "JobToken": T2, "JobState": "Started", "JobCreatedTime": "2024-05-01T10:01:00Z"}}]}}))  # 11
    cancel = build.job_request("CancelPostScanJob", to=ENDPOINT, token=T2)
    s.exchange(cancel, build.response(cancel))                             # 12
    return s.items


@pytest.fixture
def capture() -> Capture:
    return Capture(session())


# ------------------------------------------------------------------ capture


def test_capture_knows_jobs_slots_and_event_anchors(capture: Capture) -> None:
    assert set(capture.creates) == {T1, T2}
    assert capture.devices == [DEVICE]
    assert capture.origins == {SERVER}
    assert capture.slots[4] == ("", "job:" + T1, "ws-dsp:SendImage")
    assert capture.slots[9] == (DEVICE, "create", "ws-dsp:CreatePostScanJob")
    assert capture.slots[0] == (DEVICE, "session", "ws-transfer:Get")
    assert [r.index for r in capture.candidates[(DEVICE, "create", "ws-dsp:CreatePostScanJob")]] == [2, 9, 10]
    # the Started event follows the create; the last two follow EndPostScanJob, in order
    assert [(ev.index, round(d, 2)) for ev, d in capture.anchors[2]] == [(3, 0.31)]
    assert [ev.index for ev, _ in capture.anchors[6]] == [7, 8]
    assert capture.anchors[6][1][1] > capture.anchors[6][0][1]
    assert [r.kind for r in capture.events] == ["event"] * 3


def test_capture_origins_include_advertised_addresses() -> None:
    s = Session()
    get = build.transfer_get(to=f"{SERVER}/ScanServer")
    s.exchange(get, build.transfer_get_response(get, hosted_address="https://proxy.test:1/ScanServer/x",
                                                service_id="svc"), url=f"{SERVER}/ScanServer")
    assert Capture(s.items).origins == {SERVER, "https://proxy.test:1"}


def test_event_sent_before_the_create_answer_ended_is_anchored_to_the_create() -> None:
    s = Session()
    create = build.create_post_scan_job(to=ENDPOINT, user=USER, psp_id=PSP)
    s.exchange(create, build.response(create, {"JobToken": T1}), took=1.0)
    s.clock -= 0.8  # the server posted the event while its response was still on the wire
    s.event(status_event(T1, "Started"), after=0.0)
    capture = Capture(s.items)
    assert [ev.index for ev, _ in capture.anchors[0]] == [1]


# ------------------------------------------------------------ server replay


def live_create(**kw: Any) -> Message:
    return build.roundtrip(build.create_post_scan_job(to="https://127.0.0.1:9/ScanServer/x",
                                                      user=USER, psp_id=PSP, **kw))


def answer_json(answer: Any) -> Message:
    assert answer.recorded is not None, answer.note
    return decode(answer.content, answer.content_type)


def test_server_regenerates_addressing_and_keeps_recorded_tokens(capture: Capture) -> None:
    server = ServerReplay(capture)
    req = live_create()
    answer = server.answer(req, device=DEVICE)
    resp = answer_json(answer)
    assert answer.status == 200 and answer.recorded.index == 2
    assert resp.relates_to == req.message_id
    assert resp.message_id and normalize_guid(resp.message_id) != normalize_guid(
        capture.items[2].response.message_id)
    assert resp.job_token == T1
    assert resp.findings == ()


def test_server_fresh_tokens_are_mapped_consistently_per_job(capture: Capture) -> None:
    server = ServerReplay(capture, fresh_tokens=True)
    live_token = answer_json(server.answer(live_create(), device=DEVICE)).job_token
    assert live_token and live_token != T1
    req, _ = image("https://127.0.0.1:9/x", live_token, 1)
    answer = server.answer(build.roundtrip(req), device=DEVICE)
    assert answer.recorded.index == 4
    # the recorded token is not one this replay issued: unmatched
    stale, _ = image("https://127.0.0.1:9/x", T1, 2)
    assert server.answer(build.roundtrip(stale), device=DEVICE).recorded is None


def test_server_matches_the_nth_send_image_of_the_job_and_no_more(capture: Capture) -> None:
    server = ServerReplay(capture)
    server.answer(live_create(), device=DEVICE)
    got = []
    for doc in (7, 8, 9):
        req, _ = image(ENDPOINT, T1, doc)
        got.append(server.answer(build.roundtrip(req), device=DEVICE))
    assert [a.recorded.index if a.recorded else None for a in got[:2]] == [4, 5]
    unmatched = got[2]
    assert unmatched.recorded is None and unmatched.status == 500
    fault = decode(unmatched.content, unmatched.content_type)
    assert fault.kind == "fault" and fault.fault.subcode == "OperationFailed"
    assert "SendImage" in unmatched.note and server.unmatched == 1


def test_server_replays_recorded_faults_as_faults_with_their_status(capture: Capture) -> None:
    server = ServerReplay(capture)
    server.answer(live_create(), device=DEVICE)
    req = live_create()
    answer = server.answer(req, device=DEVICE)
    assert answer.recorded.index == 9 and answer.status == 500
    fault = answer_json(answer)
    assert fault.fault.subcode == "ServerErrorTemporaryError" and fault.relates_to == req.message_id
    assert answer_json(server.answer(live_create(), device=DEVICE)).job_token == T2


def test_server_answers_a_retry_with_the_same_exchange_and_no_events_again(capture: Capture) -> None:
    server = ServerReplay(capture)
    server.answer(build.roundtrip(build.subscribe(to=ENDPOINT, notify_to="http://dev/e")), device=DEVICE)
    req = live_create()
    first = server.answer(req, device=DEVICE)
    again = server.answer(req, device=DEVICE)
    assert again.recorded is first.recorded and len(first.events) == 1 and again.events == ()
    assert answer_json(again).relates_to == req.message_id


def test_server_follows_a_recorded_resend_with_the_same_message_id() -> None:
    s = Session()
    create = build.create_post_scan_job(to=ENDPOINT, user=USER, psp_id=PSP)
    s.exchange(create, build.fault(create, "ServerErrorTemporaryError"))
    s.exchange(create, build.response(create, {"JobToken": T1}))  # the device resent it as is
    server = ServerReplay(Capture(s.items))
    req = live_create()
    assert answer_json(server.answer(req, device=DEVICE)).kind == "fault"
    again = server.answer(req, device=DEVICE)
    assert again.recorded.index == 1 and answer_json(again).job_token == T1


def test_server_repeats_stateless_answers_but_not_job_steps(capture: Capture) -> None:
    server = ServerReplay(capture)
    get = build.roundtrip(build.transfer_get(to="https://127.0.0.1:9/ScanServer"))
    for _ in range(3):
        assert server.answer(build.roundtrip(build.transfer_get(to="x")), device=DEVICE).recorded.index == 0
    assert server.answer(get, device=DEVICE).recorded.index == 0
    for _ in range(3):
        server.answer(live_create(), device=DEVICE)
    for _ in range(2):
        answer = server.answer(build.roundtrip(build.get_elements(to=ENDPOINT, token=T2)), device=DEVICE)
        assert answer.recorded.index == 11
        assert answer_json(answer).body["JobElements"]["ElementData"][0]["JobStatus"]["JobToken"] == T2
    cancel = build.roundtrip(build.job_request("CancelPostScanJob", to=ENDPOINT, token=T2))
    assert server.answer(cancel, device=DEVICE).recorded.index == 12
    cancel = build.roundtrip(build.job_request("CancelPostScanJob", to=ENDPOINT, token=T2))
    assert server.answer(cancel, device=DEVICE).recorded is None


def test_server_sends_events_to_the_current_notify_to_with_live_tokens(capture: Capture) -> None:
    server = ServerReplay(capture, fresh_tokens=True, timing="recorded")
    live_sink = "https://127.0.0.1:4444/live-sink"
    sub = build.roundtrip(build.subscribe(to="https://127.0.0.1:9/x", notify_to=live_sink))
    sub_answer = server.answer(sub, device="127.0.0.1")
    assert sub_answer.recorded.index == 1
    live_token = answer_json(server.answer(live_create(), device="127.0.0.1")).job_token
    for doc in (1, 2):
        req, _ = image(ENDPOINT, live_token, doc)
        assert server.answer(build.roundtrip(req), device="127.0.0.1").events == ()
    end = server.answer(build.roundtrip(build.job_request("EndPostScanJob", to=ENDPOINT, token=live_token)),
                        device="127.0.0.1")
    assert [e.recorded.index for e in end.events] == [7, 8]
    assert all(e.url == live_sink for e in end.events)
    assert end.events[0].delay < end.events[1].delay
    for ev in end.events:
        msg = decode(ev.content, ev.content_type)
        assert msg.kind == "event" and msg.job_token == live_token and msg.to == live_sink
        assert msg.message_id and msg.message_id != ev.recorded.request.message_id
    assert server.pending_events() == []


def test_server_events_without_a_subscription_have_no_target(capture: Capture) -> None:
    server = ServerReplay(capture)
    answer = server.answer(live_create(), device=DEVICE)
    assert [e.url for e in answer.events] == [None]
    assert answer.events[0].delay == 0.0  # timing "none"


def test_server_timing_recorded_delays_the_answer(capture: Capture) -> None:
    assert ServerReplay(capture, timing="recorded").answer(live_create(), device=DEVICE).delay == pytest.approx(0.04)
    assert ServerReplay(capture).answer(live_create(), device=DEVICE).delay == 0.0


def test_server_rewrites_recorded_origins_to_its_own(capture: Capture) -> None:
    server = ServerReplay(capture, origins={SERVER: "https://127.0.0.1:7777"})
    resp = answer_json(server.answer(build.roundtrip(build.transfer_get(to="x")), device=DEVICE))
    hosted = resp.body["MetadataSection"][1]["Relationship"]["Hosted"]["EndpointReference"]["Address"]
    assert hosted == f"https://127.0.0.1:7777/ScanServer/{SERVICE}"


def test_server_maps_an_unknown_live_device_to_the_recorded_one() -> None:
    two = session()
    other = Session()
    other.clock = 5000.0
    c = build.create_post_scan_job(to=ENDPOINT, user=USER, psp_id=PSP, document_root="Other")
    rec = other.exchange(c, build.response(c, {"JobToken": new_guid()}), device="10.0.0.9")
    capture = Capture([*two, replace(rec, index=len(two))])
    server = ServerReplay(capture)
    a = server.answer(live_create(), device="192.168.1.1")
    b = server.answer(live_create(), device="192.168.1.2")
    c_ = server.answer(live_create(), device="192.168.1.3")
    assert a.recorded.device == DEVICE and b.recorded.device == "10.0.0.9"
    assert c_.recorded is None and "no recorded device" in c_.note


def test_server_xpath_keys_match_out_of_order(capture: Capture) -> None:
    server = ServerReplay(capture, keys=["//dsp:DocumentId"])
    server.answer(live_create(), device=DEVICE)
    second, _ = image(ENDPOINT, T1, 2)
    first, _ = image(ENDPOINT, T1, 1)
    assert server.answer(build.roundtrip(second), device=DEVICE).recorded.index == 5
    assert server.answer(build.roundtrip(first), device=DEVICE).recorded.index == 4
    third, _ = image(ENDPOINT, T1, 3)
    assert server.answer(build.roundtrip(third), device=DEVICE).recorded is None


def test_keys_reject_bad_xpath_and_ignore_prefixes() -> None:
    with pytest.raises(ValueError, match="bad XPath"):
        Keys(["//dsp:["])
    keys = Keys(["string(//psp:DocumentRootName)", "count(//psp:Filter)"])
    xml = encode(live_create(document_root="Root")).content.replace(b"psp:", b"p9:").replace(
        b"xmlns:psp=", b"xmlns:p9=")
    assert keys.values(decode(xml)) == ("Root", "1")


def test_notify_to_reads_a_subscribe_only() -> None:
    assert notify_to(build.roundtrip(build.subscribe(to="x", notify_to=" http://d/e "))) == "http://d/e"
    assert notify_to(live_create()) is None


# ------------------------------------------------------------ client replay


def test_plan_keeps_job_order_and_device_order(capture: Capture) -> None:
    steps = plan(capture)
    by_index = {s.recorded.index: s for s in steps}
    number = {s.recorded.index: s.number for s in steps}
    assert [s.recorded.index for s in steps] == [0, 1, 2, 4, 5, 6, 9, 10, 11, 12]
    assert by_index[4].after == (number[2],) and by_index[6].after == (number[5],)
    assert by_index[2].after == (number[1],)  # create after the subscription
    assert by_index[11].after == (number[10],)
    assert by_index[0].after == () and by_index[0].offset == 0.0 and by_index[12].offset > 1.0
    # the recorded device went on after job T1's end state had come: so will the replay
    assert [by_index[i].end_states for i in (6, 9, 12)] == [(), (T1,), (T1,)]


def test_client_knows_which_live_end_states_came(capture: Capture) -> None:
    live = FakeServer(capture)
    client = run_client(capture, live)
    assert not client.end_state_received(T1) and client.end_state_received(new_guid())
    client.event(*_encoded(end_event(live.server.tokens[T1], 2)))
    assert client.end_state_received(T1)


def run_client(capture: Capture, server: Any, *, target: str = "https://127.0.0.1:8443/") -> ClientReplay:
    """Drive a ClientReplay against a stand-in live server (a function from
    outgoing message to live response message)."""
    client = ClientReplay(capture, target, notify_to="http://127.0.0.1:5555/sink")
    for step in client.steps:
        out = client.prepare(step)
        resp = server(out)
        if resp is None:
            client.observe(out, status=None, content=None, content_type=None, latency=None,
                           error="connection refused")
            continue
        body = encode(resp)
        client.observe(out, status=build.fault_status(resp) if resp.kind == "fault" else 200,
                       content=body.content, content_type=body.content_type,
                       latency=step.recorded.duration)
    return client


class FakeServer:
    """Answers like the recorded server, minting its own ids."""

    def __init__(self, capture: Capture, *, fault_on: str | None = None) -> None:
        self.service = new_guid()
        self.tokens: dict[str, str] = {}
        self.server = ServerReplay(capture, fresh_tokens=True,
                                   origins={SERVER: "https://127.0.0.1:8443"})
        self.fault_on = fault_on
        self.sent: list[Any] = []

    def __call__(self, out: Any) -> Message | None:
        self.sent.append(out)
        msg = decode(out.content, out.content_type)
        if self.fault_on and msg.operation == self.fault_on:
            return build.roundtrip(build.fault(msg, "ServerErrorInternalError"))
        answer = self.server.answer(msg, device="127.0.0.1")
        if answer.recorded is None:
            return build.roundtrip(build.fault(msg, "OperationFailed"))
        live = decode(answer.content, answer.content_type)
        # a different service id in the hosted address, as a new server would mint
        rewriter = Rewriter(guids={SERVICE: self.service})
        return replace(live, fields=rewriter.tree(live.fields))


def test_client_rewrites_requests_with_live_ids(capture: Capture) -> None:
    live = FakeServer(capture)
    client = run_client(capture, live)
    sent = {o.step.recorded.index: o for o in live.sent}
    assert sent[0].url == "https://127.0.0.1:8443/ScanServer"
    # the live service id, learned from the metadata answer, is in later URLs and To headers
    assert sent[2].url == f"https://127.0.0.1:8443/ScanServer/{live.service}"
    assert sent[2].message.to == f"https://127.0.0.1:8443/ScanServer/{live.service}"
    live_t1 = live.server.tokens[T1]
    assert sent[4].message.job_token == live_t1 and sent[6].message.job_token == live_t1
    assert sent[11].message.job_token == live.server.tokens[T2]
    for index, out in sent.items():
        assert out.message.message_id != capture.items[index].request.message_id
    assert notify_to(sent[1].message) == "http://127.0.0.1:5555/sink"
    image_req = decode(sent[5].content, sent[5].content_type)
    (att,) = image_req.attachments
    assert bytes(att.data(sent[5].content)) == PNG + b"\x02"
    assert att.referenced and live_t1 in att.content_id
    assert not [f for f in image_req.findings if f.code.startswith("mtom.")]
    assert image_req.body["DocumentDescription"]["DocumentId"] == 2
    report = client.report()
    assert report.differing == [], [d.text() for r in report.results for d in r.differences]
    assert len(report.results) == 10 and report.to_json()["differing"] == 0
    # no live events came to the sink: the recorded end state is missing
    assert [(d.kind, d.severity) for d in report.event_differences] == [
        ("event-missing", "warning"), ("event-missing", "error")]
    assert not report.ok


def test_client_sends_wsdsp_requests_to_an_endpoint_target(capture: Capture) -> None:
    endpoint = "https://127.0.0.1:8443/ScanServer/" + new_guid()
    client = ClientReplay(capture, endpoint)
    by_index = {s.recorded.index: s for s in client.steps}
    create = client.prepare(by_index[2])
    assert create.url == endpoint and create.message.to == endpoint
    assert client.prepare(by_index[0]).url == "https://127.0.0.1:8443/ScanServer"


def test_client_reports_a_fault_that_appeared(capture: Capture) -> None:
    client = run_client(capture, FakeServer(capture, fault_on="SendImage"))
    report = client.report()
    assert not report.ok
    kinds = {(r.recorded.index, d.kind) for r in report.differing for d in r.differences}
    assert (4, "fault-appeared") in kinds and (4, "status") in kinds and (5, "fault-appeared") in kinds
    assert all(r.recorded.request.operation == "SendImage" for r in report.differing)


def test_client_reports_transport_errors(capture: Capture) -> None:
    client = run_client(capture, lambda out: None)
    report = client.report()
    assert len(report.differing) == 10 and report.results[0].differences[0].kind == "transport"


def test_client_compares_end_state_events(capture: Capture) -> None:
    live = FakeServer(capture)
    client = run_client(capture, live)
    assert client.awaiting_events()
    live_t1 = live.server.tokens[T1]
    client.event(*_encoded(status_event(live_t1, "Started")))
    assert client.awaiting_events()
    client.event(*_encoded(end_event(live_t1, 3)))
    assert not client.awaiting_events()
    diffs = client.event_differences()
    assert [(d.kind, d.path, d.recorded, d.live) for d in diffs] == [
        ("field-changed", "job 11111111/PostScanJobEndStateEvent/PostScanJobEndState/ImagesReceived", 2, 3)]
    assert not client.report().ok


def _encoded(msg: Message) -> tuple[bytes, str]:
    e = encode(msg)
    return e.content, e.content_type


# --------------------------------------------------------------- comparison


def test_compare_ignores_ids_and_timestamps_but_not_values() -> None:
    req = build.roundtrip(build.get_elements(to=ENDPOINT, token=T1))

    def resp(token: str, state: str, when: str) -> Message:
        return build.roundtrip(build.response(req, {"JobElements": {"ElementData": [
            {"@Name": "dsp:JobStatus", "@Valid": True,
             "JobStatus": {"JobToken": token, "JobState": state, "JobCreatedTime": when}}]}}))

    a = resp(T1, "Started", "2024-05-01T10:00:00Z")
    assert compare_messages(a, resp(T1, "Started", "2031-01-01T00:00:00.5+02:00")) == []
    (diff,) = compare_messages(a, resp(T1, "Processing", "2024-05-01T10:00:00Z"))
    assert diff.kind == "field-changed"
    assert diff.path == "GetPostScanJobElementsResponse/JobElements/ElementData[0]/JobStatus/JobState"
    assert (diff.recorded, diff.live) == ("Started", "Processing")
    assert compare_messages(a, resp(T1, "Processing", "x"), ignore=["*/JobState"])[0].path.endswith(
        "JobCreatedTime")


def test_compare_faults_appearing_vanishing_and_changing() -> None:
    req = build.roundtrip(build.job_request("EndPostScanJob", to=ENDPOINT, token=T1))
    ok = build.roundtrip(build.response(req))
    internal = build.roundtrip(build.fault(req, "ServerErrorInternalError"))
    temporary = build.roundtrip(build.fault(req, "ServerErrorTemporaryError"))
    assert [d.kind for d in compare_messages(ok, internal)] == ["fault-appeared"]
    assert [d.kind for d in compare_messages(internal, ok)] == ["fault-vanished"]
    assert [d.kind for d in compare_messages(internal, temporary)] == ["fault-changed"]
    assert compare_messages(internal, build.roundtrip(build.fault(req, "ServerErrorInternalError",
                                                                  reason="Autre texte"))) == []
    invalid = build.roundtrip(build.fault(req, "InvalidArgs", "JobToken"))
    assert [d.path for d in compare_messages(invalid, build.roundtrip(build.fault(req, "InvalidArgs", "Format")))] == ["Fault/Detail"]


def test_compare_exchange_checks_relates_to_status_latency_and_token_consistency(capture: Capture) -> None:
    from dspscope.wsdsp.replay import Correlation

    rec = capture.items[11]  # GetPostScanJobElements of job T2
    correlation = Correlation(capture, "https://127.0.0.1:1")
    live_t2 = new_guid()
    correlation.guids[T2] = live_t2
    sent = replace(rec.request, message_id="urn:uuid:" + new_guid(), job_token=live_t2)
    live = replace(rec.response, relates_to=sent.message_id, message_id="urn:uuid:" + new_guid(),
                   fields=Rewriter(guids={T2: live_t2}).tree(rec.response.fields))
    result = compare_exchange(rec, sent=sent, live=live, status=200, latency=0.05, correlation=correlation)
    assert result.ok and result.differences == ()
    slow = compare_exchange(rec, sent=sent, live=live, status=200, latency=5.0, correlation=correlation)
    assert slow.ok and [d.kind for d in slow.differences] == ["latency"]
    wrong = replace(live, relates_to="urn:uuid:" + new_guid())
    assert [d.kind for d in compare_exchange(rec, sent=sent, live=wrong, status=201, latency=0.05,
                                             correlation=correlation).differences] == ["status", "relates-to"]
    other_token = replace(live, fields=Rewriter(guids={T2: new_guid()}).tree(rec.response.fields))
    result = compare_exchange(rec, sent=sent, live=other_token, status=200, latency=0.05,
                              correlation=correlation)
    assert [d.path.rpartition("/")[2] for d in result.differences] == ["JobToken"]


def test_rewriter_keeps_guid_forms() -> None:
    r = Rewriter(guids={T2: PSP}, origins={"https://a:1": "https://b:2"})
    assert r.text("{" + T2.upper() + "}") == "{" + PSP.upper() + "}"
    assert r.text(f"urn:uuid:{T2}") == f"urn:uuid:{PSP}"
    assert r.text(f"HTTPS://A:1/ScanServer/{T2}") == f"https://b:2/ScanServer/{PSP}"
    assert r.text("https://a:10/x") == "https://a:10/x"


def test_regenerated_messages_keep_vendor_extensions() -> None:
    from dspscope.wsdsp.replay import rewrite

    xml = encode(build.response(build.roundtrip(build.job_request("EndPostScanJob", to="x", token=T1)))).content
    xml = xml.replace(b"<dsp:EndPostScanJobResponse/>", b'<dsp:EndPostScanJobResponse><v:Extra xmlns:v="urn:vendor">1</v:Extra></dsp:EndPostScanJobResponse>')
    original = decode(xml)
    again = decode(encode(rewrite(original, Rewriter(), relates_to="urn:uuid:x")).content)
    assert again.fields == original.fields and again.relates_to == "urn:uuid:x"
    assert again.namespaces["EndPostScanJobResponse/Extra"] == "urn:vendor"
