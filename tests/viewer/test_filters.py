from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from dspscope.viewer.filters import FilterError, parse
from dspscope.viewer.store import row_of


def record(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "f1", "time": 1.0, "client": "10.0.0.5:50001", "server": "scan.test:5362",
        "method": "POST", "url": "https://scan.test:5362/ScanServer/x", "status": 200,
        "duration_ms": 12.0, "protocol": "ws-dsp", "kind": "exchange", "operation": "SendImage",
        "job_token": "264a1f00-7c1d-4e2a-9b3f-000000000001",
        "request": {"fields": {"SendImageRequest": {"JobToken": "264a", "Note": "Scan User"}},
                    "attachments": [{"content_id": "a"}]},
        "response": {"fault": None}, "findings": [], "rules": [], "error": None,
    }
    base.update(over)
    return base


SEND = row_of(record(), 0)
FAULT = row_of(record(id="f2", status=500, duration_ms=900.0,
                      response={"fault": {"code": "Receiver", "subcode": "ServerErrorTemporaryError"}},
                      rules=[{"name": "busy-on-image", "action": "fault", "side": "request"}]), 1)
CREATE = row_of(record(id="f3", operation="CreatePostScanJob", client="10.0.0.17:1", job_token=None,
                       findings=[{"severity": "warning", "code": "wsa.missing-reply-to", "text": "x"}],
                       request={"fields": {}}), 2)
EVENT = row_of(record(id="f4", kind="event", operation="PostScanJobEndStateEvent", status=202,
                      findings=[{"severity": "error", "code": "job.images-mismatch", "text": "y"}]), 3)
BROKEN = row_of(record(id="f5", status=None, duration_ms=None, protocol="not-soap", operation=None,
                       error="connection reset", job_token=None, request=None, response=None), 4)
ROWS = [SEND, FAULT, CREATE, EVENT, BROKEN]


def ids(text: str) -> list[str]:
    query = parse(text)
    return [ROWS[i].id for i in query.select(ROWS)]


CASES = [
    ("", ["f1", "f2", "f3", "f4", "f5"]),
    ("op:SendImage", ["f1", "f2"]),
    ("op:send", ["f1", "f2"]),
    ("op:SendImage,CreatePostScanJob", ["f1", "f2", "f3"]),
    ("-op:send", ["f3", "f4", "f5"]),
    ("!op:send", ["f3", "f4", "f5"]),
    ("job:264a", ["f1", "f2", "f4"]),
    ("job:{264A1F00", ["f1", "f2", "f4"]),
    ("job:urn:uuid:264a1f00-7c1d", ["f1", "f2", "f4"]),
    ("job:ffff", []),
    ("device:10.0.0.17", ["f3"]),
    ("status:200", ["f1", "f3"]),
    ("status:>=400", ["f2"]),
    ("status:5xx", ["f2"]),
    ("status:2xx", ["f1", "f3", "f4"]),
    ("status:!=200", ["f2", "f4"]),
    ("status:none", ["f5"]),
    ("latency:>500", ["f2"]),
    ("fault", ["f2"]),
    ("is:fault", ["f2"]),
    ("error", ["f5"]),
    ("has:findings", ["f3", "f4"]),
    ("findings", ["f3", "f4"]),
    ("severity:error", ["f4"]),
    ("severity:warning", ["f3", "f4"]),
    ("finding:images", ["f4"]),
    ("rule:busy", ["f2"]),
    ("has:rules", ["f2"]),
    ("has:attachments", ["f1", "f2", "f4"]),
    ("kind:event", ["f4"]),
    ("is:event", ["f4"]),
    ("proto:not-soap", ["f5"]),
    ("method:post", ["f1", "f2", "f3", "f4", "f5"]),
    ("scan", ["f1", "f2", "f3", "f4", "f5"]),
    ('"scan user"', ["f1", "f2", "f4"]),
    ('text:"scan user"', ["f1", "f2", "f4"]),
    ("connection reset", ["f5"]),
    ("op:send status:>=400 rule:busy", ["f2"]),
    ("op:send -fault", ["f1"]),
    ("has:rules,findings", ["f2", "f3", "f4"]),
    ("-has:findings,rules", ["f1", "f5"]),
    ("is:response", ["f1", "f2", "f3", "f4"]),
    ("-10.0.0.17 -kind:event", ["f1", "f2", "f5"]),
    ("latency:none", ["f5"]),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_query_selects(query: str, expected: list[str]) -> None:
    assert ids(query) == expected


@pytest.mark.parametrize(
    ("query", "position", "words"),
    [
        ("op:send colour:red", 8, "unknown field colour"),
        ("status:lots", 0, "status: wants a number"),
        ("latency:fast", 0, "latency: wants a number"),
        ("severity:fatal", 0, "severity: is error, warning or info"),
        ("has:wings", 0, "has: is one of"),
        ("op:", 0, "op: needs a value"),
        ("xpath://[", 0, "xpath:"),
    ],
)
def test_bad_queries_say_what_and_where(query: str, position: int, words: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse(query)
    assert words in str(caught.value)
    assert caught.value.position == position


def test_xpath_reads_documents_and_runs_last() -> None:
    envelope = etree.fromstring(
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:dsp="http://schemas.microsoft.com/windows/2008/12/wdp/distributedscan/processing">'
        b"<s:Body><dsp:SendImageRequest><dsp:DocumentId>7</dsp:DocumentId></dsp:SendImageRequest>"
        b"</s:Body></s:Envelope>")
    asked: list[str] = []

    def documents(row: Any) -> list[Any]:
        asked.append(row.id)
        return [envelope] if row.id == "f1" else []

    query = parse('xpath:"//dsp:DocumentId[. = 7]" op:send')
    assert query.needs_documents
    assert [ROWS[i].id for i in query.select(ROWS, documents)] == ["f1"]
    assert asked == ["f1", "f2"]  # only rows the cheap test kept
    assert parse("xpath:count(//dsp:DocumentId)").select(ROWS, documents) == [0]
