"""Every fault the simulated server answers, over real HTTP on loopback:
the right subcode and Detail, a SOAP 1.2 fault with RelatesTo, HTTP 400 for
Sender faults and 500 for Receiver faults."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from dspscope.sim.server import ScanServer
from dspscope.wsdsp import AttachmentData, build, encode, names
from dspscope.wsdsp.values import new_guid
from tests.sim.support import PNG, PSP, USER, Client, Reply, create_request

UNKNOWN = "0b7e1f0e-5c2a-4d8e-9f3a-6b1c2d3e4f50"


def assert_fault(reply: Reply, subcode: str, status: int, detail: str | None = None) -> None:
    message = reply.message
    assert reply.status == status
    assert message.kind == "fault" and message.fault is not None
    assert message.fault.subcode == subcode
    assert message.fault.code == ("Sender" if status == 400 else "Receiver")
    assert message.soap_version == "1.2"
    assert message.action == names.WSA + "/fault"
    assert message.relates_to == reply.request.message_id
    assert message.message_id and message.message_id != reply.request.message_id
    assert message.fault.reason
    if detail is not None:
        assert message.fault.detail == detail
    assert [f for f in message.findings if f.severity == "error"] == []


def _create_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "UserIdentifier": USER,
        "PSP_Identifier": PSP,
        "PostScanInstructions": {
            "DocumentRootName": "Invoices",
            "FiltersToProcess": {"Filter": [build.fileshare_filter(r"\\files\scans")]},
        },
    }
    for key, value in changes.items():
        path = key.split("__")
        node = body
        for step in path[:-1]:
            node = node[step]
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"UserIdentifier": None}, "UserIdentifier"),
        ({"UserIdentifier": "not-a-sid"}, "UserIdentifier"),
        ({"PSP_Identifier": None}, "PSP_Identifier"),
        ({"PSP_Identifier": "1234"}, "PSP_Identifier"),
        ({"PostScanInstructions": None}, "PostScanInstructions"),
        ({"PostScanInstructions__DocumentRootName": None}, "PostScanInstructions/DocumentRootName"),
        ({"PostScanInstructions__FiltersToProcess": None}, "PostScanInstructions/FiltersToProcess"),
        (
            {"PostScanInstructions__ContinueOnError": "maybe"},
            "PostScanInstructions/ContinueOnError",
        ),
        (
            {"PostScanInstructions__FiltersToProcess": {"Filter": [{"Dialect": names.FILESHARE}]}},
            "PostScanInstructions/FiltersToProcess/Filter[1]/Instructions",
        ),
        ({"Surplus": "x"}, "Surplus"),
    ],
)
async def test_create_with_invalid_arguments_is_invalid_args_naming_the_argument(
    client: Client, server: ScanServer, changes: dict[str, Any], detail: str
) -> None:
    request = build.request("CreatePostScanJob", _create_body(**changes), to=server.endpoint)
    reply = await client.send(request)
    assert_fault(reply, "InvalidArgs", 400, detail)
    assert server.jobs.jobs == {}


async def test_vendor_extension_in_create_is_accepted(client: Client, server: ScanServer) -> None:
    request = build.request("CreatePostScanJob", _create_body(), to=server.endpoint)
    spaces = dict(request.namespaces)
    body = dict(request.fields["CreatePostScanJobRequest"])
    body["DeviceSerial"] = "X1"
    spaces["CreatePostScanJobRequest/DeviceSerial"] = "urn:vendor:example"
    request = replace(request, fields={"CreatePostScanJobRequest": body}, namespaces=spaces)
    reply = await client.send(request)
    assert reply.status == 200 and reply.message.job_token


@pytest.mark.parametrize(
    "operation", ["SendImage", "EndPostScanJob", "CancelPostScanJob", "GetPostScanJobElements"]
)
async def test_unknown_token_is_operation_failed(
    client: Client, server: ScanServer, operation: str
) -> None:
    if operation == "SendImage":
        reply = await client.image(UNKNOWN, 1)
    elif operation == "GetPostScanJobElements":
        reply = await client.send(build.get_elements(to=server.endpoint, token=UNKNOWN))
    else:
        reply = await client.job_request(operation, UNKNOWN)
    assert_fault(reply, "OperationFailed", 500)


@pytest.mark.parametrize("finish", ["EndPostScanJob", "CancelPostScanJob"])
@pytest.mark.parametrize("then", ["SendImage", "EndPostScanJob", "CancelPostScanJob"])
async def test_finished_token_is_operation_failed(
    client: Client, server: ScanServer, finish: str, then: str
) -> None:
    token = await client.create()
    assert (await client.image(token, 1)).status == 200
    assert (await client.job_request(finish, token)).status == 200
    reply = (
        await client.image(token, 2)
        if then == "SendImage"
        else await client.job_request(then, token)
    )
    assert_fault(reply, "OperationFailed", 500)
    await server.idle()
    status = await client.send(build.get_elements(to=server.endpoint, token=token))
    assert status.status == 200  # GetPostScanJobElements stays allowed after the end


async def test_malformed_token_is_invalid_args(client: Client, server: ScanServer) -> None:
    reply = await client.send(build.job_request("EndPostScanJob", to=server.endpoint, token="nope"))
    assert_fault(reply, "InvalidArgs", 400, "JobToken")


async def test_unknown_action_is_action_not_supported(client: Client, server: ScanServer) -> None:
    request = replace(
        build.job_request("EndPostScanJob", to=server.endpoint, token=UNKNOWN),
        action=names.DSP + "/RewindPostScanJob",
    )
    reply = await client.send(request)
    assert_fault(reply, "ActionNotSupported", 400, names.DSP + "/RewindPostScanJob")
    assert reply.message.fault is not None
    assert reply.message.fault.subcode_namespace == names.WSA


async def test_response_action_sent_to_the_server_is_action_not_supported(
    client: Client, server: ScanServer
) -> None:
    request = build.job_request("EndPostScanJob", to=server.endpoint, token=UNKNOWN)
    reply = await client.send(build.response(request))
    assert reply.status == 400 and reply.subcode == "ActionNotSupported"


async def test_body_that_does_not_match_the_action_is_invalid_args(
    client: Client, server: ScanServer
) -> None:
    request = replace(
        build.job_request("EndPostScanJob", to=server.endpoint, token=UNKNOWN),
        action=names.action_for("CancelPostScanJob"),
    )
    reply = await client.send(request)
    assert_fault(reply, "InvalidArgs", 400, "CancelPostScanJobRequest")


async def test_garbage_body_is_a_sender_fault(client: Client, server: ScanServer) -> None:
    request = build.probe(to=server.url)
    reply = await client.raw(b"hello, scanner", "text/plain", request)
    assert reply.status == 400
    assert reply.message.kind == "fault" and reply.subcode == "InvalidArgs"


async def test_send_image_without_attachment_is_invalid_args(
    client: Client, server: ScanServer
) -> None:
    token = await client.create()
    request = build.send_image(
        to=server.endpoint, token=token, document_id=1, format="png", content_id="x@y"
    )
    reply = await client.send(request)  # plain XML: the xop:Include points nowhere
    assert_fault(reply, "InvalidArgs", 400, "ImageData")


async def test_send_image_with_unmatched_content_id_is_invalid_args(
    client: Client, server: ScanServer
) -> None:
    token = await client.create()
    request = build.send_image(
        to=server.endpoint, token=token, document_id=1, format="png", content_id="a@b"
    )
    reply = await client.send(request, (AttachmentData("other@b", b"\x89PNG\r\n\x1a\n"),))
    assert_fault(reply, "InvalidArgs", 400, "ImageData")


async def test_send_image_with_unknown_format_is_invalid_args(
    client: Client, server: ScanServer
) -> None:
    token = await client.create()
    reply = await client.image(token, 1, fmt="gif")
    assert_fault(reply, "InvalidArgs", 400, "DocumentDescription/Format")


async def test_a_used_document_id_with_another_image_is_refused_and_not_counted(
    client: Client, server: ScanServer
) -> None:
    token = await client.create()
    assert (await client.image(token, 7)).status == 200
    reply = await client.image(token, 7, data=PNG + b"another page")
    assert_fault(reply, "InvalidArgs", 400, "DocumentDescription/DocumentId")
    assert (await client.image(token, 8)).status == 200
    assert server.jobs.jobs[token].images == 2 and server.resends == 0


async def test_a_resent_page_is_answered_again_and_stored_once(
    client: Client, server: ScanServer
) -> None:
    """The device never heard the answer: it sends the same page again,
    with a fresh MessageID (a modified resend) or the same one."""
    token = await client.create()
    assert (await client.image(token, 1)).status == 200
    again = await client.image(token, 1)  # fresh MessageID, same DocumentId and image
    assert again.status == 200 and again.message.kind == "response"
    assert again.message.relates_to == again.request.message_id
    request = build.send_image(to=server.endpoint, token=token, document_id=2, format="png",
                               content_id="page2@test")
    first = await client.send(request, (AttachmentData("page2@test", PNG),))
    same = await client.send(request, (AttachmentData("page2@test", PNG),))
    assert first.status == same.status == 200
    assert same.message.message_id == first.message.message_id  # the same answer
    assert server.jobs.jobs[token].images == 2 and server.resends == 2
    end = build.job_request("EndPostScanJob", to=server.endpoint, token=token)
    assert (await client.send(end)).status == (await client.send(end)).status == 200
    assert server.resends == 3


async def test_temporary_error_from_the_fault_hook(server: ScanServer, client: Client) -> None:
    server.fault_hook = lambda m: (
        "ServerErrorTemporaryError" if m.operation == "CreatePostScanJob" else None
    )
    reply = await client.send(create_request(server.endpoint))
    assert_fault(reply, "ServerErrorTemporaryError", 500)


async def test_get_elements_answers_known_names_and_marks_unknown_ones_invalid(
    client: Client, server: ScanServer
) -> None:
    token = await client.create()
    await client.image(token, 1)
    request = build.get_elements(
        to=server.endpoint,
        token=token,
        elements=("dsp:JobStatus", "dsp:JobDescription", "dsp:Colour"),
    )
    reply = await client.send(request)
    assert reply.status == 200 and reply.message.kind == "response"
    assert reply.message.relates_to == request.message_id
    data = reply.message.body["JobElements"]["ElementData"]
    assert [(d["@Name"], d["@Valid"]) for d in data] == [
        ("dsp:JobStatus", True),
        ("dsp:JobDescription", True),
        ("dsp:Colour", False),
    ]
    status = data[0]["JobStatus"]
    assert status["JobToken"] == token and status["JobState"] == "Processing"
    assert status["ImagesReceived"] == 1
    assert data[1]["JobDescription"]["PSP_Identifier"] == PSP
    assert data[1]["JobDescription"]["JobOriginatingUserName"] == USER
    assert "JobStatus" not in data[2] and "JobDescription" not in data[2]


async def test_get_elements_without_names_is_invalid_args(
    client: Client, server: ScanServer
) -> None:
    token = await client.create()
    request = build.request("GetPostScanJobElements", {"JobToken": token}, to=server.endpoint)
    assert_fault(await client.send(request), "InvalidArgs", 400, "RequestedElements")


async def test_discovery_and_metadata_name_the_endpoint(client: Client, server: ScanServer) -> None:
    probe = build.probe(to=server.url)
    matches = await client.send(probe, url=server.url)
    assert matches.status == 200 and matches.message.relates_to == probe.message_id
    assert matches.message.body["ProbeMatch"]["XAddrs"] == server.url
    get = build.transfer_get(to=server.url)
    metadata = await client.send(get, url=server.url)
    hosted = metadata.message.body["MetadataSection"][1]["Relationship"]["Hosted"]
    assert hosted["EndpointReference"]["Address"] == server.endpoint
    assert server.endpoint == f"http://127.0.0.1:{server.port}/ScanServer/{server.service_id}"


async def test_wrong_service_path_is_404(client: Client, server: ScanServer) -> None:
    request = create_request(server.url)
    async with client.session.post(
        f"{server.url}/{new_guid()}", data=encode(request).content
    ) as response:
        assert response.status == 404
