"""The simulated WSD scanner over loopback: each operation, its pages, its
events, and the faults of the WS-Scan error-code pages.  Every reply is
decoded by the project's decoder and must carry no finding."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from dspscope.sim.scanner import ScannerModel, SimulatedScanner
from dspscope.wsdsp import Message, build, decode, encode, scanbuild
from dspscope.wsdsp.names import WSCN
from tests.helpers import eventually_async
from tests.sim.support import Sink


@pytest.fixture
async def scanner() -> AsyncIterator[SimulatedScanner]:
    async with SimulatedScanner(port=0, tls_on=False, model=ScannerModel(sheets=2)) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def send(session: aiohttp.ClientSession, url: str, request: Message
               ) -> tuple[int, Message, bytes]:
    encoded = encode(request)
    async with session.post(url, data=encoded.content,
                            headers={"Content-Type": encoded.content_type}) as response:
        body = await response.read()
        reply = decode(body, response.headers.get("Content-Type"), request=request)
    assert reply.findings == (), reply.findings
    return response.status, reply, body


def ticket(source: str = "Platen", fmt: str = "png", colour: str = "Grayscale8",
           res: int = 75) -> dict[str, Any]:
    return {"ScanTicket": {
        "JobDescription": {"JobName": "t", "JobOriginatingUserName": "tester"},
        "DocumentParameters": {
            "Format": fmt, "ImagesToTransfer": 0, "InputSource": source,
            "InputSize": {"InputMediaSize": {"Width": 8500, "Height": 11000}},
            "MediaSides": {"MediaFront": {
                "ColorProcessing": colour, "Resolution": {"Width": res, "Height": res},
                "ScanRegion": {"ScanRegionXOffset": 0, "ScanRegionYOffset": 0,
                               "ScanRegionWidth": 4000, "ScanRegionHeight": 2000}}},
        }}}


async def create(session, scanner, **kw) -> Message:
    status, reply, _ = await send(session, scanner.url,
                                  scanbuild.request("CreateScanJob", ticket(**kw), to=scanner.url))
    assert status == 200 and reply.kind == "response", reply.fault
    return reply


def retrieve(scanner, job_id: Any, token: Any) -> Message:
    return scanbuild.request("RetrieveImage", {
        "JobId": job_id, "JobToken": token,
        "DocumentDescription": {"DocumentName": "IMAGE000.PNG"}}, to=scanner.url)


async def test_scanner_elements_describe_platen_and_feeder(scanner, session):
    names = ["wscn:ScannerDescription", "wscn:ScannerConfiguration", "wscn:ScannerStatus",
             "wscn:DefaultScanTicket", "wscn:NoSuchElement"]
    request = scanbuild.request("GetScannerElements", {"RequestedElements": {"Name": names}},
                                to=scanner.url)
    status, reply, _ = await send(session, scanner.url, request)
    assert status == 200 and reply.protocol == "ws-scan" and reply.operation == "GetScannerElements"
    data = reply.body["ScannerElements"]["ElementData"]
    assert [(d["@Name"], d["@Valid"]) for d in data] == [(n, n != "wscn:NoSuchElement")
                                                         for n in names]
    config = data[1]["ScannerConfiguration"]
    assert "png" in config["DeviceSettings"]["FormatsSupported"]["FormatValue"]
    assert config["Platen"]["PlatenResolutions"]["Widths"]["Width"][0] == 75
    assert config["ADF"]["ADFSupportsDuplex"] is True
    assert data[2]["ScannerStatus"]["ScannerState"] == "Idle"


async def test_a_platen_job_yields_one_page_of_the_ticket_size(scanner, session):
    reply = await create(session, scanner, colour="RGB24", fmt="jfif", res=150)
    job_id, token = reply.body["JobId"], reply.body["JobToken"]
    assert reply.body["ImageInformation"]["MediaFrontImageInfo"]["PixelsPerLine"] == 600
    status, image, body = await send(session, scanner.url, retrieve(scanner, job_id, token))
    assert status == 200 and image.attachments[0].sniffed_format == "jfif"
    with Image.open(io.BytesIO(bytes(image.attachments[0].data(body)))) as page:
        assert page.size == (600, 300) and page.mode == "RGB"
    status, again, _ = await send(session, scanner.url, retrieve(scanner, job_id, token))
    assert (status, again.fault.subcode) == (400, "ClientErrorNoImagesAvailable")
    history = scanbuild.request("GetJobHistory", {}, to=scanner.url)
    _, jobs, _ = await send(session, scanner.url, history)
    [summary] = jobs.body["JobHistory"]["JobSummary"]
    assert summary["JobId"] == job_id and summary["JobState"] == "Completed"


async def test_the_feeder_runs_out_of_paper(scanner, session):
    reply = await create(session, scanner, source="ADFDuplex")
    job_id, token = reply.body["JobId"], reply.body["JobToken"]
    pages = 0
    while True:
        status, image, _ = await send(session, scanner.url, retrieve(scanner, job_id, token))
        if status != 200:
            break
        pages += 1
    assert pages == 4  # two sheets, both sides
    assert image.fault.subcode == "ClientErrorNoImagesAvailable" and image.fault.code == "Sender"


async def test_faults_of_the_error_code_pages(scanner, session):
    _, bad_format, _ = await send(session, scanner.url, scanbuild.request(
        "CreateScanJob", ticket(fmt="xps"), to=scanner.url))
    assert bad_format.fault.subcode == "ClientErrorFormatNotSupported"
    assert bad_format.fault.subcode_namespace == WSCN  # wscn:, declared
    _, bad_res, _ = await send(session, scanner.url, scanbuild.request(
        "CreateScanJob", ticket(res=123), to=scanner.url))
    assert bad_res.fault.subcode == "InvalidArgs" and bad_res.fault.detail == "Resolution"
    reply = await create(session, scanner)
    job_id, token = reply.body["JobId"], reply.body["JobToken"]
    _, not_found, _ = await send(session, scanner.url, retrieve(scanner, 999, token))
    assert not_found.fault.subcode == "ClientErrorJobIdNotFound"
    _, wrong_token, _ = await send(session, scanner.url, retrieve(scanner, job_id, "nope"))
    assert wrong_token.fault.subcode == "ClientErrorInvalidJobToken"
    _, active, _ = await send(session, scanner.url,
                              scanbuild.request("GetActiveJobs", {}, to=scanner.url))
    assert [j["JobId"] for j in active.body["ActiveJobs"]["JobSummary"]] == [job_id]
    _, canceled, _ = await send(session, scanner.url,
                                scanbuild.request("CancelJob", {"JobId": job_id}, to=scanner.url))
    assert canceled.kind == "response"
    _, after, _ = await send(session, scanner.url, retrieve(scanner, job_id, token))
    assert after.fault.subcode == "ClientErrorJobCancelled"
    elements = scanbuild.request("GetJobElements", {
        "JobId": job_id, "RequestedElements": {"Name": ["wscn:JobStatus"]}}, to=scanner.url)
    _, status, _ = await send(session, scanner.url, elements)
    assert status.body["JobElements"]["ElementData"][0]["JobStatus"]["JobState"] == "Canceled"
    unknown = build.transfer_get(to=scanner.url)
    _, metadata, _ = await send(session, scanner.url, unknown)
    assert metadata.protocol == "ws-transfer" and metadata.kind == "response"


async def test_subscribers_get_job_events(scanner, session):
    async with Sink() as sink:
        subscribe = build.subscribe(to=scanner.url, notify_to=sink.url,
                                    actions=[f"{WSCN}/JobEndStateEvent",
                                             f"{WSCN}/JobStatusEvent"])
        _, answer, _ = await send(session, scanner.url, subscribe)
        assert answer.kind == "response"
        reply = await create(session, scanner)
        await send(session, scanner.url,
                   retrieve(scanner, reply.body["JobId"], reply.body["JobToken"]))
        received = sink.messages
        await eventually_async(lambda: any(m.operation == "JobEndStateEvent" for m in received),
                               what="the JobEndStateEvent")
        assert all(m.protocol == "ws-scan" and m.findings == () for m in received)
        end = next(m for m in received if m.operation == "JobEndStateEvent")
        assert end.body["JobEndState"]["JobCompletedState"] == "Completed"
