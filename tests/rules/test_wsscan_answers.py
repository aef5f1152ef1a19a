"""A fault a rule answers a WS-Scan request with is a WS-Scan fault: the
error-code pages' Code and Reason, the subcode in the wscn namespace, and it
decodes as ws-scan with no finding."""

from __future__ import annotations

from dspscope.rules.answers import fault_answer
from dspscope.rules.spec import FaultAction
from dspscope.wsdsp import decode, scanbuild
from dspscope.wsdsp.build import roundtrip
from dspscope.wsdsp.names import WSCN


def test_a_rule_fault_for_a_ws_scan_request() -> None:
    request = roundtrip(scanbuild.request("CreateScanJob", {"ScanTicket": {}},
                                          to="http://scanner.test/WSDScan"))
    answer = fault_answer(FaultAction("ServerErrorNotAcceptingJobs"), request)
    assert answer.status == 500
    message = decode(answer.content, dict(answer.headers)["Content-Type"], request=request)
    assert (message.protocol, message.kind, message.operation) == ("ws-scan", "fault",
                                                                   "CreateScanJob")
    assert message.fault is not None and message.fault.subcode_namespace == WSCN
    assert message.fault.reason and message.fault.reason.startswith("The service is temporarily")
    assert message.relates_to == request.message_id
    assert message.findings == ()


def test_a_ws_dsp_subcode_for_a_ws_scan_request_is_still_ws_scan() -> None:
    request = roundtrip(scanbuild.request("RetrieveImage", {
        "JobId": 1, "JobToken": "t", "DocumentDescription": {"DocumentName": "x"}},
        to="http://scanner.test/WSDScan"))
    answer = fault_answer(FaultAction("ServerErrorInternalError"), request)
    message = decode(answer.content, dict(answer.headers)["Content-Type"], request=request)
    assert message.protocol == "ws-scan" and message.fault is not None
    assert message.fault.subcode == "ServerErrorInternalError" and message.findings == ()
