"""WS-Eventing on the simulated server: the subscription operations and
their faults, and events pushed over HTTP to subscribers' sinks, in order,
to the device that made the job only."""

from __future__ import annotations

import datetime as dt
import socket

import aiohttp
import pytest

from dspscope.sim.server import ScanServer
from dspscope.wsdsp import build, names
from tests.sim.support import Client, Sink

STATUS = names.action_for("PostScanJobStatusEvent")
END = names.action_for("PostScanJobEndStateEvent")


async def subscribe(
    client: Client, sink: Sink, expires: str = "PT1H", actions: tuple[str, ...] = (STATUS, END)
) -> str:
    request = build.subscribe(
        to=client.server.endpoint, notify_to=sink.url, expires=expires, actions=actions
    )
    reply = await client.send(request)
    assert reply.status == 200, reply.message.fault
    assert reply.message.relates_to == request.message_id
    manager = reply.message.body["SubscriptionManager"]
    assert manager["Address"] == client.server.endpoint
    identifier: str = manager["ReferenceParameters"]["Identifier"]
    return identifier


def states(sink: Sink, token: str) -> list[str]:
    out = []
    for message in sink.events(token):
        if message.operation == "PostScanJobStatusEvent":
            out.append(message.body["JobStatus"]["JobState"])
        else:
            out.append("END:" + message.body["PostScanJobEndState"]["JobCompletedState"])
    return out


async def test_events_follow_the_job_and_end_with_the_end_state(
    client: Client, server: ScanServer
) -> None:
    async with Sink() as sink:
        await subscribe(client, sink)
        token = await client.create(
            filters=[build.fileshare_filter(r"\\f\s"), build.email_filter("a@b.test")]
        )
        for n in (1, 2, 3):
            assert (await client.image(token, n)).status == 200
        assert (await client.job_request("EndPostScanJob", token)).status == 200
        await server.idle()
    assert states(sink, token) == [
        "Started",
        "Processing",
        "Processing",  # created, first image, ended
        "Processing",
        "Processing",
        "Processing",
        "Processing",  # two filters: started, done
        "Completed",
        "END:Completed",
    ]
    events = sink.events(token)
    assert all(e.kind == "event" and e.to == sink.url and not e.findings for e in events)
    filters = [e.body["JobStatus"]["FilterStatuses"]["FilterStatus"] for e in events[3:7]]
    assert [[f["FilterState"] for f in fs] for fs in filters] == [
        ["Processing", "Pending"],
        ["CompletedSuccessfully", "Pending"],
        ["CompletedSuccessfully", "Processing"],
        ["CompletedSuccessfully", "CompletedSuccessfully"],
    ]
    end = events[-1].body["PostScanJobEndState"]
    assert end["ImagesReceived"] == 3
    assert end["JobCompletedStateReasons"]["JobStateReason"] == ["PostScanJobCompletedSuccessfully"]
    assert [f["FilterState"] for f in end["FilterCompletedStatuses"]["FilterStatus"]] == [
        "CompletedSuccessfully",
        "CompletedSuccessfully",
    ]
    assert end["JobCompletedTime"].endswith("Z")


async def test_cancel_ends_with_a_canceled_end_state(client: Client, server: ScanServer) -> None:
    async with Sink() as sink:
        await subscribe(client, sink)
        token = await client.create()
        await client.image(token, 1)
        assert (await client.job_request("CancelPostScanJob", token)).status == 200
        await server.idle()
    assert states(sink, token) == ["Started", "Processing", "Canceled", "END:Canceled"]
    end = sink.events(token)[-1].body["PostScanJobEndState"]
    assert end["ImagesReceived"] == 1
    assert end["JobCompletedStateReasons"]["JobStateReason"] == ["PostScanJobCanceled"]


async def test_unknown_filter_dialect_aborts_the_job_without_continue_on_error(
    client: Client, server: ScanServer
) -> None:
    vendor = build.filter_instructions("urn:vendor:ocr", {"OcrConfig": {"Language": "de"}})
    async with Sink() as sink:
        await subscribe(client, sink)
        token = await client.create(filters=[vendor, build.fileshare_filter(r"\\f\s")])
        await client.job_request("EndPostScanJob", token)
        await server.idle()
    end = sink.events(token)[-1].body["PostScanJobEndState"]
    assert end["JobCompletedState"] == "Aborted"
    assert [f["FilterState"] for f in end["FilterCompletedStatuses"]["FilterStatus"]] == [
        "CompletedWithErrors",
        "Canceled",
    ]


async def test_action_filter_limits_what_is_delivered(client: Client, server: ScanServer) -> None:
    async with Sink() as sink:
        await subscribe(client, sink, actions=(END,))
        token = await client.create()
        await client.job_request("EndPostScanJob", token)
        await server.idle()
    assert states(sink, token) == ["END:Completed"]


async def test_renew_get_status_unsubscribe(client: Client, server: ScanServer) -> None:
    async with Sink() as sink:
        identifier = await subscribe(client, sink, expires="PT10M")
        endpoint = server.endpoint
        status = await client.send(
            build.eventing_request("GetStatus", to=endpoint, identifier=identifier)
        )
        assert status.status == 200 and status.message.body["Expires"] in ("PT10M", "PT9M59S")
        renewed = await client.send(
            build.eventing_request("Renew", to=endpoint, identifier=identifier, expires="PT2H")
        )
        assert renewed.status == 200 and renewed.message.body["Expires"] == "PT2H"
        assert renewed.message.relates_to == renewed.request.message_id
        gone = await client.send(
            build.eventing_request("Unsubscribe", to=endpoint, identifier=identifier)
        )
        assert gone.status == 200 and gone.message.operation == "Unsubscribe"
        again = await client.send(
            build.eventing_request("GetStatus", to=endpoint, identifier=identifier)
        )
        assert again.status == 400 and again.subcode == "DestinationUnreachable"
        renew = await client.send(
            build.eventing_request("Renew", to=endpoint, identifier=identifier)
        )
        assert renew.status == 500 and renew.subcode == "UnableToRenew"
        assert renew.message.relates_to == renew.request.message_id
        token = await client.create()
        await client.job_request("EndPostScanJob", token)
        await server.idle()
    assert sink.events(token) == []


async def test_expiry_as_datetime_and_invalid_expiry(client: Client, server: ScanServer) -> None:
    async with Sink() as sink:
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat(timespec="seconds")
        request = build.subscribe(to=server.endpoint, notify_to=sink.url, expires=later)
        reply = await client.send(request)
        assert reply.status == 200 and reply.message.body["Expires"].endswith("Z")
        for bad in ("PT0S", "-PT5M", "2001-01-01T00:00:00Z", "soon"):
            reply = await client.send(
                build.subscribe(to=server.endpoint, notify_to=sink.url, expires=bad)
            )
            assert reply.status == 400 and reply.subcode == "InvalidExpirationTime", bad
        reply = await client.send(
            build.subscribe(to=server.endpoint, notify_to="mailto:x@y", expires="PT1H")
        )
        assert reply.status == 400 and reply.subcode == "DeliveryModeRequestedUnavailable"


async def test_expired_subscription_gets_no_events(client: Client, server: ScanServer) -> None:
    async with Sink() as sink:
        await subscribe(client, sink, expires="PT1M")
        real = server.jobs.clock
        server.jobs.clock = lambda: real() + dt.timedelta(minutes=2)
        token = await client.create()
        await client.job_request("EndPostScanJob", token)
        await server.idle()
    assert sink.events(token) == []
    assert server.subscriptions.active == {}


def _second_loopback() -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.2", 0))
        except OSError:
            return False
    return True


@pytest.mark.skipif(not _second_loopback(), reason="127.0.0.2 is not a local address here")
async def test_events_go_to_the_device_that_made_the_job(server: ScanServer) -> None:
    """Two devices (127.0.0.1 and 127.0.0.2) each see only their own jobs."""
    async with (
        Sink() as sink_a,
        Sink(host="127.0.0.2") as sink_b,
        aiohttp.ClientSession() as session_a,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        ) as session_b,
    ):
        a, b = Client(session_a, server), Client(session_b, server)
        await subscribe(a, sink_a)
        await subscribe(b, sink_b)
        token_a, token_b = await a.create(), await b.create()
        await a.job_request("EndPostScanJob", token_a)
        await b.job_request("EndPostScanJob", token_b)
        await server.idle()
    assert {m.job_token for m in sink_a.messages} == {token_a}
    assert {m.job_token for m in sink_b.messages} == {token_b}
    assert states(sink_a, token_a)[-1] == states(sink_b, token_b)[-1] == "END:Completed"


async def test_stop_sends_subscription_end(tmp_path: object) -> None:
    async with Sink() as sink, aiohttp.ClientSession() as session:
        server = ScanServer(port=0, tls_on=False)
        await server.start()
        await subscribe(Client(session, server), sink)
        await server.stop()
    ends = [m for m in sink.messages if m.operation == "SubscriptionEnd"]
    assert len(ends) == 1
    assert ends[0].body["Status"] == names.WSE + "/SourceShuttingDown"


async def test_a_dead_sink_loses_its_subscription(client: Client, server: ScanServer) -> None:
    server.pusher.retry_delay = 0.0
    async with Sink() as sink:
        url = sink.url
    request = build.subscribe(to=server.endpoint, notify_to=url)  # nobody listens there any more
    assert (await client.send(request)).status == 200
    for _ in range(2):
        token = await client.create()
        await client.job_request("EndPostScanJob", token)
        await server.idle()
    assert server.subscriptions.active == {}
    assert server.pusher.failed >= 3 and server.pusher.delivered == 0
