"""The findings corpus: defects written from the DSM pages and the SOAP 1.2,
WS-Addressing, MTOM and XOP specifications, each a published example with
one change or a short job sequence, and clean controls that must stay quiet.

A case is (name, steps of its capture, the message decode is asked about,
expected codes).  An empty ``expect`` makes a control."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from dspscope.wsdsp import AttachmentData, Message, build, decode, encode, names
from tests.addons import support
from tests.corpus.capture import (
    TOKEN,
    Step,
    create_exchange,
    end_exchange,
    end_state,
    in_job,
    status_event,
)
from tests.wsdsp.support import bom, crlf, load_example, reprefix

DATA = Path(__file__).resolve().parents[1] / "data"
SOAP_CT = "application/soap+xml; charset=utf-8"
SOAP12 = names.SOAP12.encode()
DSP = names.DSP.encode()


@dataclass(frozen=True)
class Case:
    name: str
    steps: Callable[[], list[Step]]
    expect: frozenset[str]
    #: The single message decode must judge alone (None: a sequence case,
    #: whose defect only the tracker can see).
    message: Callable[[], tuple[bytes, str | None]] | None = None


CASES: list[Case] = []

ROLES = {
    "createpostscanjobrequest": ("request", "CreatePostScanJob"),
    "createpostscanjobresponse": ("response", "CreatePostScanJob"),
    "sendimagerequest": ("request", "SendImage"),
    "sendimageresponse": ("response", "SendImage"),
    "endpostscanjobrequest": ("request", "EndPostScanJob"),
    "endpostscanjobresponse": ("response", "EndPostScanJob"),
    "cancelpostscanjobrequest": ("request", "CancelPostScanJob"),
    "cancelpostscanjobresponse": ("response", "CancelPostScanJob"),
    "getpostscanjobelementsrequest": ("request", "GetPostScanJobElements"),
    "getpostscanjobelementsresponse": ("response", "GetPostScanJobElements"),
}


def example(name: str) -> tuple[bytes, str]:
    found = load_example(DATA, f"{name}-example.md")
    return found.content, found.content_type or SOAP_CT


def one_change(content: bytes, old: bytes, new: bytes) -> bytes:
    assert content.count(old) >= 1, old
    return content.replace(old, new, 1)


def on_example(name: str, expect: set[str], *, old: bytes = b"", new: bytes = b"",
               change: Callable[[bytes], bytes] | None = None, content_type: str | None = None,
               status: int | None = None, case: str | None = None) -> None:
    """A published example with one change, in an otherwise correct job."""
    role, operation = ROLES[name]

    def message() -> tuple[bytes, str | None]:
        content, ctype = example(name)
        if old:
            content = one_change(content, old, new)
        if change is not None:
            content = change(content)
        return content, content_type or ctype

    def steps() -> list[Step]:
        content, ctype = message()
        return in_job(content, ctype, role, operation, status=status)

    CASES.append(Case(case or f"{name}: {'unchanged' if not expect else '/'.join(sorted(expect))}",
                      steps, frozenset(expect), message))


def on_message(case: str, build_message: Callable[[], Message], role: str, operation: str,
               expect: set[str], *, change: Callable[[bytes], bytes] | None = None,
               content_type: str | None = None, status: int | None = None) -> None:
    """A message written from the spec (there is no published example of
    it), with one change, in an otherwise correct job."""

    def message() -> tuple[bytes, str | None]:
        out = encode(build_message())
        content = change(out.content) if change is not None else out.content
        return content, content_type or out.content_type

    def steps() -> list[Step]:
        content, ctype = message()
        return in_job(content, ctype, role, operation, status=status)

    CASES.append(Case(case, steps, frozenset(expect), message))


def sequence(case: str, expect: set[str]) -> Callable[[Callable[[], list[Step]]], Callable[[], list[Step]]]:
    def register(steps: Callable[[], list[Step]]) -> Callable[[], list[Step]]:
        CASES.append(Case(case, steps, frozenset(expect)))
        return steps
    return register


# ====================================================== controls: must stay quiet

for _name in ROLES:
    on_example(_name, set())

on_example("createpostscanjobrequest", set(), change=reprefix, case="control: other prefixes (n0:, n1:)")
on_example("endpostscanjobrequest", set(), change=lambda x: reprefix(x, default=names.DSP),
           case="control: WS-DSP as the default namespace")
on_example("endpostscanjobrequest", set(), change=bom, case="control: a byte order mark")
on_example("createpostscanjobrequest", set(), change=crlf, case="control: CRLF line ends")
on_example("endpostscanjobrequest", set(), old=b"264a19bf-3604-4603-b59d-b47e0f669a1e",
           new=b"{264A19BF-3604-4603-B59D-B47E0F669A1E}", case="control: an upper-case GUID in braces")
on_example("sendimagerequest", set(),
           old=b"</dsp:DocumentDescription>",
           new=b'<acme:Duplex xmlns:acme="urn:acme:scan:2020">true</acme:Duplex></dsp:DocumentDescription>',
           case="control: a vendor extension element in its own namespace")
on_example("sendimagerequest", set(),
           content_type=('multipart/related;start-info="application/soap+xml";boundary='
                         '"e1ac1c8d-11be-4313-999f-a8b0857d5360-3c31c1fe-39ef-4c34-8efd-918cf79f6";'
                         'start=<xml@example.org>;type=application/xop+xml'),
           case="control: MTOM parameters in another order and quoting")
on_example("endpostscanjobrequest", set(),
           content_type=("application/soap+xml; charset=utf-8; action=\"http://schemas.microsoft.com/"
                         "windows/2008/12/wdp/distributedscan/processing/EndPostScanJob\""),
           case="control: an action parameter that agrees with wsa:Action")
on_message("control: a status event with a time zone offset", lambda: _ev(status_event()),
           "event", "PostScanJobStatusEvent", set(),
           change=lambda x: one_change(x, b"2024-05-01T11:59:00Z", b"2024-05-01T13:59:00.250+02:00"))


@sequence("control: a whole job", set())
def _whole_job() -> list[Step]:
    return [create_exchange(), *_pages(2), end_exchange(), status_event(state="Completed"), end_state()]


def _pages(count: int, token: str = TOKEN) -> list[Step]:
    out = []
    for n in range(1, count + 1):
        send = build.send_image(to=support.ENDPOINT, token=token, document_id=n, format="png",
                                content_id=f"page{n}@test")
        packed = encode(send, (AttachmentData(f"page{n}@test", support.PNG, "image/png"),))
        out.append(Step(packed.content, packed.content_type, build.response(send)))
    return out


@sequence("control: a fault, then the same request resent with its MessageID", set())
def _resent_after_fault() -> list[Step]:
    send = build.send_image(to=support.ENDPOINT, token=TOKEN, document_id=1, format="png",
                            content_id="page1@test")
    packed = encode(send, (AttachmentData("page1@test", support.PNG, "image/png"),))
    busy = build.fault(send, "ServerErrorTemporaryError")
    return [create_exchange(), Step(packed.content, packed.content_type, busy),
            Step(packed.content, packed.content_type, build.response(send)), end_exchange(), end_state()]


@sequence("control: a correct Sender fault (InvalidArgs, HTTP 400), then a correct page", set())
def _sender_fault() -> list[Step]:
    bad = build.send_image(to=support.ENDPOINT, token=TOKEN, document_id=99, format="png",
                           content_id="page1@test")
    packed = encode(bad, (AttachmentData("page1@test", support.PNG, "image/png"),))
    return [create_exchange(), Step(packed.content, packed.content_type,
                                    build.fault(bad, "InvalidArgs"), status=400),
            *_pages(1), end_exchange(), end_state()]


@sequence("control: events that overtake their CreatePostScanJobResponse", set())
def _overtaking() -> list[Step]:
    return [status_event(state="Pending"), create_exchange(), *_pages(1), end_exchange(),
            end_state()]


@sequence("control: an end state that overtakes its EndPostScanJob exchange", set())
def _early_end_state() -> list[Step]:
    return [create_exchange(), *_pages(1), end_state(), end_exchange()]


@sequence("control: a polling device (no events): the outcome from JobState", set())
def _polled() -> list[Step]:
    ask = build.get_elements(to=support.ENDPOINT, token=TOKEN)
    status = {"JobToken": TOKEN, "JobState": "Completed", "ImagesReceived": 1,
              "JobStateReasons": {"JobStateReason": ["PostScanJobCompletedSuccessfully"]},
              "JobCreatedTime": "2024-05-01T11:59:00Z"}
    answer = build.response(ask, {"JobElements": {"ElementData": [
        {"@Name": "dsp:JobStatus", "@Valid": True, "JobStatus": status}]}})
    return [create_exchange(), *_pages(1), end_exchange(), Step(ask, response=answer)]


@sequence("control: a cancelled job", set())
def _cancelled() -> list[Step]:
    cancel = build.job_request("CancelPostScanJob", to=support.ENDPOINT, token=TOKEN)
    return [create_exchange(), Step(cancel, response=build.response(cancel)),
            end_state(state="Canceled")]


@sequence("control: a create refused with a fault (the job failed, as reported)", set())
def _create_refused() -> list[Step]:
    request = support.create()
    return [Step(request, response=build.fault(request, "ServerErrorInternalError"), status=500)]


# ========================================== defects: envelope and namespaces

for _wrong in (b"http://www.w3.org/2003/05/soapelope", b"https://www.w3.org/2003/05/soap-envelope",
               b"http://www.w3.org/2003/05/soap-envelope/", b"http://www.w3.org/2002/12/soap-envelope"):
    on_example("endpostscanjobrequest", {"soap.unknown-envelope-namespace"}, old=SOAP12, new=_wrong,
               case=f"envelope namespace {_wrong.decode()}")
on_example("createpostscanjobresponse", {"soap.unknown-envelope-namespace"}, old=SOAP12,
           new=b"http://www.w3.org/2003/05/soap-envelop", case="response envelope namespace cut short")

_NEAR = (b"http://schemas.microsoft.com/windows/2008/02/wdp/distributedscan/processing",
         b"http://schemas.microsoft.com/windows/2008/02/wdp/repository/processing",
         b"https://schemas.microsoft.com/windows/2008/12/wdp/distributedscan/processing",
         b"http://schemas.microsoft.com/windows/2008/12/wdp/distributedscan/processing/")
for _name, _near in zip(("endpostscanjobrequest", "sendimageresponse", "cancelpostscanjobrequest",
                         "getpostscanjobelementsrequest"), _NEAR, strict=True):
    on_example(_name, {"dsp.namespace-near-miss"}, old=b'xmlns:dsp="' + DSP + b'"',
               new=b'xmlns:dsp="' + _near + b'"', case=f"{_name}: WS-DSP namespace {_near.decode()}")
on_example("endpostscanjobrequest", {"dsp.wrong-namespace"}, old=b'xmlns:dsp="' + DSP + b'"',
           new=b'xmlns:dsp="' + names.PSP.encode() + b'"', case="dsp: prefix bound to the PSP namespace")
on_example("getpostscanjobelementsrequest", {"dsp.wrong-namespace"}, old=b"<dsp:JobToken>",
           new=b"<wsa:JobToken>", case="JobToken under the wsa: prefix")
on_example("getpostscanjobelementsrequest", {"dsp.wrong-namespace"}, old=b"</dsp:JobToken>",
           new=b"</wsa:JobToken>", change=lambda x: x.replace(b"<dsp:JobToken>", b"<wsa:JobToken>", 1),
           case="JobToken in the WS-Addressing namespace")
on_example("createpostscanjobrequest", {"wsa.missing-action"},
           old=b'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"',
           new=b'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/adressing"',
           case="WS-Addressing namespace misspelled (no Action a receiver can find)")

# ================================================ defects: SOAP HTTP binding

on_example("endpostscanjobrequest", {"soap.content-type-mismatch"}, content_type="text/xml; charset=utf-8",
           case="SOAP 1.2 envelope sent as text/xml")
on_example("createpostscanjobresponse", {"soap.content-type-mismatch"}, content_type="text/xml",
           case="SOAP 1.2 response sent as text/xml")
on_example("endpostscanjobrequest", {"soap.version-1.1", "soap.content-type-mismatch"}, old=SOAP12,
           new=names.SOAP11.encode(), case="SOAP 1.1 envelope sent as application/soap+xml")
on_example("createpostscanjobrequest", {"soap.action-parameter-mismatch"},
           content_type=('application/soap+xml; charset=utf-8; action="http://schemas.microsoft.com/'
                         'windows/2008/12/wdp/distributedscan/processing/EndPostScanJob"'),
           case="action parameter names another operation")
on_example("sendimageresponse", {"soap.action-parameter-mismatch"},
           content_type='application/soap+xml;action="urn:other"', case="response action parameter wrong")


def _fault_bytes(change: Callable[[bytes], bytes] = lambda x: x, subcode: str = "InvalidArgs",
                 code: str | None = None) -> Callable[[], tuple[bytes, str | None]]:
    def make() -> tuple[bytes, str | None]:
        request = build.job_request("EndPostScanJob", to=support.ENDPOINT, token=TOKEN)
        out = encode(build.fault(request, subcode, code=code))
        return change(out.content), out.content_type
    return make


def _fault_case(case: str, expect: set[str], status: int, **kw: object) -> None:
    make = _fault_bytes(**kw)  # type: ignore[arg-type]

    def steps() -> list[Step]:
        content, ctype = make()
        seen = decode(content, ctype)
        request = replace(build.job_request("EndPostScanJob", to=support.ENDPOINT, token=TOKEN),
                          message_id=seen.relates_to)
        return [create_exchange(), Step(request, response=content, response_type=ctype, status=status),
                end_exchange(), end_state()]

    # The HTTP status is the exchange's: decode sees the fault alone.
    alone = not any(code.startswith("http.") for code in expect)
    CASES.append(Case(case, steps, frozenset(expect), make if alone else None))


_fault_case("a Sender fault sent with HTTP 200", {"http.fault-status-200"}, 200)
_fault_case("a Receiver fault sent with HTTP 200", {"http.fault-status-200"}, 200,
            subcode="OperationFailed")
_fault_case("a Sender fault sent with HTTP 500 (as WCF does)", {"http.sender-fault-5xx"}, 500)
_fault_case("a Receiver fault sent with HTTP 400", {"http.receiver-fault-4xx"}, 400,
            subcode="ServerErrorInternalError")
_fault_case("a fault Reason Text without xml:lang", {"soap.fault-reason-lang"}, 400,
            change=lambda x: re.sub(rb' xml:lang="en"', b"", x, count=1))
_fault_case("a fault carrying a response Action", {"wsa.fault-action"}, 400,
            change=lambda x: x.replace(b"http://schemas.xmlsoap.org/ws/2004/08/addressing/fault",
                                       names.action_for("EndPostScanJob", response=True).encode(), 1))
_fault_case("InvalidArgs under the Receiver code", {"fault.code-mismatch"}, 500, code="Receiver")
_fault_case("a fault without a Reason", {"fault.missing-reason"}, 400,
            change=lambda x: re.sub(rb"<soap:Reason>.*?</soap:Reason>", b"", x, count=1, flags=re.S))

# ================================================= defects: addressing, sequence

on_example("createpostscanjobrequest", {"wsa.missing-message-id"},
           old=b"<wsa:MessageID>urn:uuid:c7a18640-1e15-48ac-8326-0026a5719d98</wsa:MessageID>", new=b"",
           case="a request without MessageID")
on_example("endpostscanjobresponse", {"wsa.missing-relates-to"},
           change=lambda x: re.sub(rb"<wsa:RelatesTo>.*?</wsa:RelatesTo>", b"", x, count=1, flags=re.S),
           case="a response without RelatesTo")
on_example("endpostscanjobrequest", {"wsa.missing-action"},
           change=lambda x: re.sub(rb"<wsa:Action>.*?</wsa:Action>", b"", x, count=1, flags=re.S),
           case="a request without Action")
on_example("endpostscanjobrequest", {"wsa.action-body-mismatch"}, old=b"/EndPostScanJob<",
           new=b"/CancelPostScanJob<", case="Action CancelPostScanJob, body EndPostScanJobRequest")
on_example("createpostscanjobrequest", {"wsa.duplicate-header"}, old=b"</soap:Header>",
           new=b"<wsa:MessageID>urn:uuid:00000000-1e15-48ac-8326-0026a5719d98</wsa:MessageID></soap:Header>",
           case="two MessageID headers")


@sequence("a response answering another MessageID", {"wsa.relates-to-unmatched"})
def _relates_wrong() -> list[Step]:
    end = build.job_request("EndPostScanJob", to=support.ENDPOINT, token=TOKEN)
    answer = replace(build.response(end), relates_to="urn:uuid:0badc0de-0000-4000-8000-000000000000")
    return [create_exchange(), Step(end, response=answer), end_state()]


@sequence("a device reusing a MessageID for a different request", {"wsa.duplicate-message-id"})
def _device_reuse() -> list[Step]:
    pages = _pages(1)
    sent = decode(pages[0].request, pages[0].request_type)  # type: ignore[arg-type]
    end = replace(build.job_request("EndPostScanJob", to=support.ENDPOINT, token=TOKEN),
                  message_id=sent.message_id)
    return [create_exchange(), *pages, Step(end, response=build.response(end)), end_state()]


@sequence("a server reusing the MessageID of its previous reply", {"wsa.duplicate-message-id"})
def _server_reuse() -> list[Step]:
    send = build.send_image(to=support.ENDPOINT, token=TOKEN, document_id=1, format="png",
                            content_id="page1@test")
    first = build.response(send)
    end = build.job_request("EndPostScanJob", to=support.ENDPOINT, token=TOKEN)
    again = replace(build.response(end), message_id=first.message_id)
    return [create_exchange(), Step(send, response=first), Step(end, response=again), end_state()]


@sequence("a response whose MessageID is the request's own", {"wsa.message-id-echoed"})
def _echoed() -> list[Step]:
    end = build.job_request("EndPostScanJob", to=support.ENDPOINT, token=TOKEN)
    return [create_exchange(), Step(end, response=replace(build.response(end), message_id=end.message_id)),
            end_state()]


@sequence("EndPostScanJob answered with a SendImageResponse", {"wsa.response-mismatch"})
def _other_answer() -> list[Step]:
    end = build.job_request("EndPostScanJob", to=support.ENDPOINT, token=TOKEN)
    send = build.send_image(to=support.ENDPOINT, token=TOKEN, document_id=1, format="png",
                            content_id="p@t")
    wrong = replace(build.response(send), relates_to=end.message_id)
    return [create_exchange(), Step(end, response=wrong), end_state()]


@sequence("one JobToken handed out for two jobs", {"job.token-reused"})
def _token_twice() -> list[Step]:
    return [create_exchange(), *_pages(1), end_exchange(), end_state(), create_exchange(),
            end_exchange(), end_state()]


@sequence("GetPostScanJobElementsResponse about another job", {"job.elements-other-job"})
def _elements_other() -> list[Step]:
    ask = build.get_elements(to=support.ENDPOINT, token=TOKEN)
    status = {"JobToken": "0c349cb0-59ed-4d02-b6d5-ebc729c73830", "JobState": "Processing"}
    answer = build.response(ask, {"JobElements": {"ElementData": [
        {"@Name": "dsp:JobStatus", "@Valid": True, "JobStatus": status}]}})
    return [create_exchange(), Step(ask, response=answer), end_exchange(), end_state()]


@sequence("an end state Completed although EndPostScanJob was never sent", {"job.completed-without-end"})
def _completed_unended() -> list[Step]:
    return [create_exchange(), *_pages(1), end_state()]


@sequence("SendImage with a JobToken never issued", {"job.unknown-token"})
def _unknown() -> list[Step]:
    return [create_exchange(), *_pages(1, token="0c349cb0-59ed-4d02-b6d5-ebc729c73830"),
            end_exchange(), end_state()]


@sequence("an event for a JobToken no job ever gets", {"job.unknown-token"})
def _stray_event() -> list[Step]:
    return [status_event(token="0c349cb0-59ed-4d02-b6d5-ebc729c73830"), create_exchange(),
            end_exchange(), end_state()]


@sequence("SendImage after EndPostScanJob", {"job.after-end"})
def _after_end() -> list[Step]:
    return [create_exchange(), end_exchange(), *_pages(1), end_state()]


@sequence("ImagesReceived that differs from the pages acknowledged", {"job.images-mismatch"})
def _images() -> list[Step]:
    return [create_exchange(), *_pages(2), end_exchange(), status_event(state="Completed"),
            _with_images(end_state(), 3)]


def _with_images(step: Step, images: int) -> Step:
    event = step.request
    assert isinstance(event, Message)
    body = dict(event.fields["PostScanJobEndStateEvent"])
    body["PostScanJobEndState"] = {**body["PostScanJobEndState"], "ImagesReceived": images}
    return replace(step, request=build.event("PostScanJobEndStateEvent", body, to=event.to or ""))


@sequence("an end-state event a rule dropped", {"job.event-dropped"})
def _dropped() -> list[Step]:
    return [create_exchange(), *_pages(1), end_exchange(), replace(end_state(), dropped=True)]


@sequence("a job never ended", {"job.never-ended"})
def _never_ended() -> list[Step]:
    return [create_exchange(), *_pages(1)]


# ================================================================ defects: values

_ELEMENTS = "getpostscanjobelementsresponse"
for _bad in (b"28/04/2009 18:37", b"2009-04-28 18:37:19.519", b"2009-04-28T25:37:19", b"yesterday"):
    on_example(_ELEMENTS, {"dsp.invalid-datetime"}, old=b"2009-04-28T18:37:19.519", new=_bad,
               case=f"JobCreatedTime {_bad.decode()!r}")
on_example(_ELEMENTS, {"dsp.unknown-enum"}, old=b"<dsp:JobState>Creating<", new=b"<dsp:JobState>Done<",
           case="JobState 'Done'")
on_example(_ELEMENTS, {"dsp.unknown-enum"}, old=b"<dsp:FilterState>Pending<",
           new=b"<dsp:FilterState>Finished<", case="FilterState 'Finished'")
on_example(_ELEMENTS, {"dsp.invalid-boolean"}, old=b'dsp:Valid="true"', new=b'dsp:Valid="yes"',
           case="ElementData Valid 'yes'")
on_example(_ELEMENTS, {"dsp.invalid-integer"}, old=b"<dsp:ImagesReceived>1<",
           new=b"<dsp:ImagesReceived>one<", case="ImagesReceived 'one'")
on_example("sendimagerequest", {"dsp.unknown-format"}, old=b"<dsp:Format>png<", new=b"<dsp:Format>jpeg<",
           case="Format 'jpeg' (the spec says jfif)")
on_example("sendimagerequest", {"dsp.invalid-integer"}, old=b"<dsp:DocumentId>9<",
           new=b"<dsp:DocumentId>nine<", case="DocumentId 'nine'")
on_example("endpostscanjobrequest", {"dsp.invalid-guid"}, old=b"264a19bf-3604-4603-b59d-b47e0f669a1e",
           new=b"job-42", case="JobToken not a GUID")
on_example("createpostscanjobrequest", {"dsp.invalid-sid"}, old=b"S-1-5-21-917267712",
           new=b"user-917267712", case="UserIdentifier not a SID")
on_example("createpostscanjobrequest", {"dsp.invalid-guid"}, old=b"C4F199C7-6876-4549-A86E-A85035952448",
           new=b"C4F199C7-6876-4549-A86E", case="PSP_Identifier cut short")
on_example("createpostscanjobrequest", {"dsp.invalid-boolean"}, old=b"<psp:ContinueOnError>true<",
           new=b"<psp:ContinueOnError>yes<", case="ContinueOnError 'yes'")
on_example("createpostscanjobrequest", {"dsp.too-long"}, old=b"IncomingScans</fsh:ShareUNC>",
           new=b"IncomingScans" + b"x" * 260 + b"</fsh:ShareUNC>", case="ShareUNC over 255 characters")
on_example("createpostscanjobrequest", {"dsp.filter-dialect-mismatch"},
           old=b"<psp:Dialect>http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/fileshare<",
           new=b"<psp:Dialect>http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/email<",
           case="a filter whose Dialect says email and whose Instructions configure a file share")
on_example("createpostscanjobrequest", {"dsp.missing-element"},
           change=lambda x: re.sub(rb"<dsp:PSP_Identifier>.*?</dsp:PSP_Identifier>", b"", x, count=1),
           case="CreatePostScanJobRequest without PSP_Identifier")
on_message("end state 'Success'", lambda: _ev(end_state()), "event", "PostScanJobEndStateEvent",
           {"dsp.unknown-enum"}, change=lambda x: one_change(x, b">Completed<", b">Success<"))
on_message("end state JobCompletedTime 'now'", lambda: _ev(end_state()), "event",
           "PostScanJobEndStateEvent", {"dsp.invalid-datetime"},
           change=lambda x: one_change(x, b"2024-05-01T12:00:00Z", b"now"))


def _ev(step: Step) -> Message:
    assert isinstance(step.request, Message)
    return step.request


# ================================================================= defects: schema

on_example("sendimagerequest", {"dsp.unknown-element"}, old=b"</dsp:DocumentDescription>",
           new=b"<dsp:Priority>1</dsp:Priority></dsp:DocumentDescription>",
           case="an element the schema does not define in the WS-DSP namespace")
on_example("endpostscanjobrequest", {"dsp.unknown-element", "dsp.missing-element"},
           old=b"<dsp:JobToken>", new=b"<dsp:JobTokn>",
           change=lambda x: x.replace(b"</dsp:JobToken>", b"</dsp:JobTokn>", 1), case="JobToken misspelled")
on_example("createpostscanjobresponse", {"dsp.unknown-element"}, old=b"</dsp:CreatePostScanJobResponse>",
           new=b"<dsp:Status>OK</dsp:Status></dsp:CreatePostScanJobResponse>",
           case="an undefined element in a response")

# ================================================================== defects: MTOM

_SEND = "sendimagerequest"
on_example(_SEND, {"mtom.root-not-xop"},
           old=b"Content-Type: application/xop+xml; type=application/soap+xml",
           new=b"Content-Type: application/soap+xml; type=application/soap+xml",
           case="MTOM root part typed application/soap+xml")
on_example(_SEND, {"mtom.no-type-parameter"},
           content_type=('multipart/related; boundary=e1ac1c8d-11be-4313-999f-a8b0857d5360-3c31c1fe-'
                         '39ef-4c34-8efd-918cf79f6; start="<xml@example.org>"; start-info="application/soap+xml"'),
           case="multipart/related without its type parameter")
on_example(_SEND, {"mtom.href-not-cid"}, old=b'href="cid:1c696bd7', new=b'href="1c696bd7',
           case="xop:Include href without cid:")
on_example(_SEND, {"mtom.root-not-found"},
           content_type=('multipart/related; boundary=e1ac1c8d-11be-4313-999f-a8b0857d5360-3c31c1fe-'
                         '39ef-4c34-8efd-918cf79f6; type="application/xop+xml"; start="<nothere@example.org>"; '
                         'start-info="application/soap+xml"'),
           case="start names a part that is not there")
on_example(_SEND, {"mtom.attachment-missing"}, old=b'href="cid:1c696bd7', new=b'href="cid:2c696bd7',
           case="xop:Include naming no part")
on_example(_SEND, {"mtom.no-boundary"},
           content_type='multipart/related; type="application/xop+xml"; start="<xml@example.org>"',
           case="multipart/related without a boundary")
on_example(_SEND, {"mtom.truncated"},
           change=lambda x: x.replace(b"918cf79f6--", b"918cf79f6xx", 1), case="no closing boundary")


@sequence("Format png, image bytes JPEG", {"mtom.format-mismatch"})
def _format() -> list[Step]:
    send = build.send_image(to=support.ENDPOINT, token=TOKEN, document_id=1, format="png",
                            content_id="page1@test")
    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
    packed = encode(send, (AttachmentData("page1@test", jpeg, "image/jpeg"),))
    return [create_exchange(), Step(packed.content, packed.content_type, build.response(send)),
            end_exchange(), end_state()]


# ============================================= defects: answers that are not SOAP


def _not_soap(case: str, body: bytes, ctype: str, status: int, operation: str = "SendImage") -> None:
    @sequence(case, {"http.not-soap-answer"})
    def steps() -> list[Step]:
        request = (build.send_image(to=support.ENDPOINT, token=TOKEN, document_id=1, format="png",
                                    content_id="page1@test") if operation == "SendImage"
                   else build.job_request(operation, to=support.ENDPOINT, token=TOKEN))
        return [create_exchange(), Step(request, response=body, response_type=ctype, status=status),
                *([] if operation == "EndPostScanJob" else [end_exchange()]), end_state()]


_not_soap("an HTML error page answering SendImage", b"<html><body><h1>Server Error</h1></body></html>",
          "text/html", 500)
_not_soap("an empty 200 answering SendImage", b"", "text/plain", 200)
_not_soap("plain text answering EndPostScanJob", b"OK", "text/plain", 200, "EndPostScanJob")

# ==================================================================== defects: XML

on_example("endpostscanjobrequest", {"xml.dtd-forbidden"}, change=lambda x: b'<!DOCTYPE x [<!ENTITY a "b">]>' + x,
           case="a document type declaration")
on_example("endpostscanjobresponse", {"xml.malformed"}, change=lambda x: x[: x.rfind(b"</")],
           case="a response cut off")
on_example("createpostscanjobresponse", {"xml.malformed"}, old=b"264a19bf", new=b"264a\xff19bf",
           case="bytes that are not UTF-8")

# ============================================== defects: more near misses, labels

on_example("endpostscanjobrequest", {"dsp.namespace-near-miss"},
           change=lambda x: x.replace(DSP, b"http://schemas.microsoft.com/windows/2008/02/wdp/distributedscan/processing"),
           case="action and body both in the WS-DSP namespace of another year")
on_example("endpostscanjobrequest", {"soap.not-an-envelope"},
           change=lambda x: b"<html><body>scan</body></html>", case="an HTML page sent as application/soap+xml")
on_example(_SEND, {"soap.action-parameter-mismatch"},
           old=b"Content-Type: application/xop+xml; type=application/soap+xml",
           new=b'Content-Type: application/xop+xml; type="application/soap+xml; action=\\"urn:x\\""',
           case="the MTOM root part's action parameter names another action")
