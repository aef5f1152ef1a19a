"""Every finding code dspscope can raise: its severity, what it means and
where a user can read the rule it stands for.

This table is the contract: ``finding(code, text)`` is the only way the
protocol layer makes a Finding, so every code has one severity and one
reference, and the README's "What dspscope checks" table is generated from
it (``python -m dspscope.wsdsp.codes``; a test keeps the two equal).

Severity follows the specification's words: what it says MUST (or what
breaks the exchange) is an error, what it says SHOULD (or what a receiver
can live with) is a warning, and what is only worth knowing is info.
References name what a user has: a page of Microsoft's Distributed Scan
Management documentation by its title, or a section of a W3C or IETF
specification.

Over ~400 lines on purpose: one table, one row per code; split it and the
README table could no longer be read off one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import Finding, Severity

# ------------------------------------------------------------------ references

_DSM = "DSM documentation, page "
DSP_SUMMARY = _DSM + "'Distributed Scan Processing Web Service Protocol Summary'"
DSP_SCHEMA = _DSM + "'Distributed Scan Processing Web Service (WS-DSP) Schema'"
ERROR_REPORTING = _DSM + "'Distributed Scan Processing Web Service Operation Error Reporting'"
ERROR_CODES = _DSM + "'Common Distributed Scan Processing Web Service Operation Error Codes'"
SEQUENCE = _DSM + "'DSM Scan Job Sequence Diagram'"
JOB_EXECUTION = _DSM + "'Post-Scan Job Execution'"
SEND_IMAGE = _DSM + "'SendImage'"
IMAGE_DATA = _DSM + "'SendImageRequest.ImageData'"
FORMAT = _DSM + "'SendImageRequest.DocumentDescription.Format'"
DOCUMENT_ID = _DSM + "'SendImageRequest.DocumentDescription.DocumentId'"
CREATE = _DSM + "'CreatePostScanJobRequest'"
DIALECT = _DSM + "'PostScanInstructions.FiltersToProcess.Filter.Dialect'"
FILTER_SCHEMAS = _DSM + "'Post-Scan Processing Filter Schemas'"
END_STATE_EVENT = _DSM + "'PostScanJobEndStateEvent'"
STATUS_EVENT = _DSM + "'PostScanJobStatusEvent'"
JOB_STATE = _DSM + "'PostScanJobStatusEvent.JobStatus.JobState'"
CREATED_TIME = _DSM + "'PostScanJobStatusEvent.JobStatus.JobCreatedTime'"
ELEMENTS = _DSM + "'GetPostScanJobElementsResponse.JobElements.ElementData'"

_WSCN = "WS-Scan documentation, page "
WSCN_SCHEMA = _WSCN + "'Scan Service (WS-Scan) Schema'"
WSCN_OPERATIONS = _WSCN + "'WSD Scan Service Operation Elements'"
WSCN_ERRORS = _WSCN + "'Common WSD Scan Service Operation Error Codes'"

SOAP_ENVELOPE = "SOAP 1.2 Part 1, section 5.1 (SOAP Envelope): https://www.w3.org/TR/soap12-part1/#soapenv"
SOAP_TEXT = "SOAP 1.2 Part 1, section 5.4.2.1 (SOAP Text element): https://www.w3.org/TR/soap12-part1/#reasontextelement"
SOAP_FAULT = "SOAP 1.2 Part 1, section 5.4 (SOAP Fault): https://www.w3.org/TR/soap12-part1/#soapfault"
SOAP_HTTP = ("SOAP 1.2 Part 2, section 7.5 (HTTP status codes of a SOAP fault: Sender 400, "
             "others 500): https://www.w3.org/TR/soap12-part2/#http-binding")
SOAP_MEDIA = ("SOAP 1.2 Part 2, section 7.1.4 and RFC 3902 (application/soap+xml and its "
              "action parameter): https://www.rfc-editor.org/rfc/rfc3902")
XML = "XML 1.0, sections 2.1 and 2.8: https://www.w3.org/TR/xml/"
WSA_HEADERS = ("WS-Addressing (W3C Member Submission 2004/08), section 3 (Message Information "
               "Headers): https://www.w3.org/Submission/ws-addressing/")
WSA_BINDING = ("WS-Addressing 1.0 SOAP Binding (the action parameter of application/soap+xml "
               "and [action] must agree): https://www.w3.org/TR/ws-addr-soap/")
MTOM = ("SOAP Message Transmission Optimization Mechanism, section 3 and RFC 2387: "
        "https://www.w3.org/TR/soap12-mtom/")
XOP = "XML-binary Optimized Packaging, section 3 (xop:Include): https://www.w3.org/TR/xop10/"
MIME = "RFC 2046 section 5.1 and RFC 2387 (multipart/related): https://www.rfc-editor.org/rfc/rfc2387"
DATETIME = "XML Schema Part 2, section 3.2.7 (dateTime): https://www.w3.org/TR/xmlschema-2/#dateTime"


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    severity: Severity
    what: str
    ref: str


def _table(*rows: tuple[str, Severity, str, str]) -> dict[str, Code]:
    out: dict[str, Code] = {}
    for code, severity, what, ref in rows:
        assert code not in out, code
        out[code] = Code(code, severity, what, ref)
    return out


CODES: dict[str, Code] = _table(
    # XML
    ("xml.not-xml", "error", "a body declared as XML does not start with '<'", XML),
    ("xml.dtd-forbidden", "error", "a document type declaration (SOAP forbids one; not expanded)",
     "SOAP 1.2 Part 1, section 5 (an envelope MUST NOT contain a DTD): "
     "https://www.w3.org/TR/soap12-part1/#soapenvelope"),
    ("xml.too-large", "error", "XML over the decoder's size limit; not parsed", XML),
    ("xml.malformed", "error", "XML that is not well-formed (cut off, bad bytes, unclosed tags)", XML),
    ("decode.internal", "error", "a bug in dspscope's decoder (never the message's fault)",
     "dspscope's issue tracker"),
    ("http.not-decompressed", "warning", "a Content-Encoding dspscope could not undo",
     "RFC 9110, section 8.4 (Content-Encoding): https://www.rfc-editor.org/rfc/rfc9110#section-8.4"),
    # SOAP and its HTTP binding
    ("soap.version-1.1", "warning", "a SOAP 1.1 envelope; WS-DSP is SOAP 1.2", DSP_SUMMARY),
    ("soap.unknown-envelope-namespace", "error",
     "a root Envelope in a namespace that is not SOAP's (the one probably meant is named)",
     SOAP_ENVELOPE),
    ("soap.not-an-envelope", "error", "a body sent as SOAP whose root is not an Envelope",
     SOAP_ENVELOPE),
    ("soap.content-type-mismatch", "error",
     "Content-Type against envelope version: SOAP 1.2 as text/xml, SOAP 1.1 as application/soap+xml",
     SOAP_MEDIA),
    ("soap.action-parameter-mismatch", "error",
     "the Content-Type's action parameter differs from wsa:Action", WSA_BINDING),
    ("soap.fault-reason-lang", "error", "a fault Reason Text without xml:lang", SOAP_TEXT),
    ("http.fault-status-200", "error", "a SOAP fault sent with a 2xx HTTP status", SOAP_HTTP),
    ("http.sender-fault-5xx", "info",
     "a Sender fault with a 5xx status (SOAP says 400; WCF sends 500 for every fault)", SOAP_HTTP),
    ("http.receiver-fault-4xx", "warning", "a Receiver fault with a 4xx status (SOAP says 500)",
     SOAP_HTTP),
    ("http.not-soap-answer", "error",
     "a WS-DSP request answered with something not SOAP (an HTML page, an empty body)",
     ERROR_REPORTING),
    # WS-Addressing
    ("wsa.missing-action", "error", "no wsa:Action header", WSA_HEADERS),
    ("wsa.missing-message-id", "error", "no wsa:MessageID header", WSA_HEADERS),
    ("wsa.message-id-not-uri", "warning", "a wsa:MessageID that is not a URI", WSA_HEADERS),
    ("wsa.missing-to", "warning", "a request without wsa:To", WSA_HEADERS),
    ("wsa.missing-relates-to", "error", "a response or fault without wsa:RelatesTo", WSA_HEADERS),
    ("wsa.duplicate-header", "error", "a WS-Addressing header given twice", WSA_HEADERS),
    ("wsa.version-2005-08", "warning", "WS-Addressing 1.0 (2005/08); WS-DSP uses 2004/08", DSP_SUMMARY),
    ("wsa.action-body-mismatch", "error", "a body element other than the one wsa:Action calls for",
     DSP_SUMMARY),
    ("wsa.relates-to-unmatched", "error", "a wsa:RelatesTo that matches no request seen", WSA_HEADERS),
    ("wsa.relates-to-mismatch", "error", "a wsa:RelatesTo naming another request than the one answered",
     WSA_HEADERS),
    ("wsa.duplicate-message-id", "error",
     "one wsa:MessageID on two different messages (a resent identical request is fine)", WSA_HEADERS),
    ("wsa.message-id-echoed", "error", "a response whose wsa:MessageID is the request's own", WSA_HEADERS),
    ("wsa.response-mismatch", "error",
     "an answer of another operation than the request (EndPostScanJob answered by SendImageResponse)",
     DSP_SUMMARY),
    ("wsa.fault-action", "error", "a SOAP fault that carries a response's wsa:Action", ERROR_REPORTING),
    # WS-DSP message contents
    ("dsp.missing-element", "error", "an element the WS-DSP schema requires is missing", DSP_SCHEMA),
    ("dsp.invalid-guid", "error", "a GUID field that is not a GUID", DSP_SCHEMA),
    ("dsp.invalid-sid", "error", "UserIdentifier that is not a Windows SID", CREATE),
    ("dsp.invalid-boolean", "error", "a boolean field that is not an xs:boolean", DSP_SCHEMA),
    ("dsp.invalid-integer", "error", "an integer field that is not an integer", DSP_SCHEMA),
    ("dsp.invalid-datetime", "error", "a time field that is not in xs:dateTime form", DATETIME),
    ("dsp.unknown-enum", "warning", "a value outside the spec's list for an enumerated field", JOB_STATE),
    ("dsp.unknown-format", "error", "a DocumentDescription Format not in the spec's list", FORMAT),
    ("dsp.too-long", "error", "a value longer than the filter schema allows", FILTER_SCHEMAS),
    ("dsp.unknown-action", "warning", "a wsa:Action in the WS-DSP namespace that names no operation",
     DSP_SUMMARY),
    ("dsp.unknown-element", "error",
     "an element in the WS-DSP namespace the schema does not define (vendors use their own namespace)",
     DSP_SCHEMA),
    ("dsp.namespace-near-miss", "error",
     "an element in a namespace that is almost a known one (another year, path or spelling)", DSP_SUMMARY),
    ("dsp.wrong-namespace", "error",
     "a WS-DSP element in another known namespace (a prefix bound to the wrong namespace)", DSP_SUMMARY),
    ("dsp.filter-dialect-mismatch", "error",
     "a filter whose Dialect names one filter while its Instructions configure another", DIALECT),
    ("dsp.vendor-extension", "info", "elements in a vendor's own namespace (allowed)", DSP_SCHEMA),
    # Faults
    ("fault.unknown-subcode", "info", "a fault subcode that is not one of the spec's", ERROR_CODES),
    ("fault.code-mismatch", "warning", "a known subcode under the other Code (Sender/Receiver)",
     ERROR_CODES),
    ("fault.missing-reason", "warning", "a fault without a Reason text", ERROR_REPORTING),
    # MTOM / XOP
    ("mtom.no-boundary", "error", "multipart body without a boundary parameter", MIME),
    ("mtom.boundary-not-found", "error", "the boundary does not occur in the body", MIME),
    ("mtom.truncated", "error", "a MIME part cut off", MIME),
    ("mtom.unterminated", "warning", "a multipart body without its closing boundary", MIME),
    ("mtom.too-many-parts", "error", "more MIME parts than dspscope reads", MIME),
    ("mtom.root-not-found", "error", "the start parameter names a part that is not there", MIME),
    ("mtom.no-type-parameter", "error", "multipart/related without its type parameter", MTOM),
    ("mtom.root-not-xop", "error", "the root part of an MTOM message not typed application/xop+xml", MTOM),
    ("mtom.href-not-cid", "error", "an xop:Include href that is not a cid: URL", XOP),
    ("mtom.attachment-missing", "error", "an xop:Include naming no part, or SendImage without one",
     IMAGE_DATA),
    ("mtom.format-mismatch", "error", "image bytes of another format than Format declares", FORMAT),
    # WS-Scan (wsdsp.scanchecks)
    ("wscn.prerelease-namespace", "warning",
     "the WS-Scan pre-release namespace (2006/01); shipped scanners use 2006/08", WSCN_SCHEMA),
    ("wsa.version-2003-03", "warning", "the WS-Addressing pre-release namespace (2003/03)",
     "WS-Addressing (W3C Member Submission, 10 August 2004), section 1.2 (namespace)"),
    ("wscn.unknown-action", "warning", "a WS-Scan action that names no operation", WSCN_OPERATIONS),
    ("wscn.missing-element", "error", "an element the WS-Scan schema requires is missing", WSCN_SCHEMA),
    ("wscn.invalid-integer", "error", "a WS-Scan integer field that is not an integer", WSCN_SCHEMA),
    ("wscn.invalid-boolean", "error", "a WS-Scan boolean field that is not an xs:boolean", WSCN_SCHEMA),
    ("wscn.unknown-enum", "warning", "a WS-Scan value outside its element's list", WSCN_SCHEMA),
    ("wscn.unknown-format", "warning", "a WS-Scan format not in the spec's list", WSCN_SCHEMA),
    ("wscn.unknown-fault", "info", "a fault subcode that is not a WS-Scan error code", WSCN_ERRORS),
    ("wscn.fault-code-mismatch", "warning", "a WS-Scan subcode under the other Code", WSCN_ERRORS),
    ("wscn.fault-not-for-operation", "info", "a WS-Scan fault the operation's page does not list",
     WSCN_OPERATIONS),
    # Jobs (sequence checks of the job tracker)
    ("job.unknown-token", "error",
     "a JobToken the server never issued (for an event, after it waited: a warning, the job may "
     "predate the capture)", SEQUENCE),
    ("job.after-end", "error", "an operation on a job after it ended", SEQUENCE),
    ("job.duplicate-document-id", "warning", "a DocumentId sent twice in one job", DOCUMENT_ID),
    ("job.resend", "info",
     "a request sent again with its MessageID, or the same image again (a retry; counted once)",
     WSA_HEADERS),
    ("job.never-ended", "warning", "a job never ended or cancelled", JOB_EXECUTION),
    ("job.images-mismatch", "error", "ImagesReceived differs from the images acknowledged", END_STATE_EVENT),
    ("job.other-device", "warning", "an operation on a job from another device than created it", SEQUENCE),
    ("job.token-reused", "error", "one JobToken handed out for two different jobs",
     _DSM + "'CreatePostScanJobResponse.JobToken'"),
    ("job.elements-other-job", "error",
     "a GetPostScanJobElementsResponse about another job than the one asked", ELEMENTS),
    ("job.completed-without-end", "error", "an end state Completed although EndPostScanJob was never sent",
     END_STATE_EVENT),
    ("job.event-dropped", "warning", "a job event a rule dropped: the device never received it",
     STATUS_EVENT),
)


def finding(code: str, text: str, *, severity: Severity | None = None,
            ref: str | None = None) -> Finding:
    """A Finding of a registered code, with its severity and reference (or
    a more precise page of the same documentation, ``ref``)."""
    entry = CODES[code]
    return Finding(severity or entry.severity, code, text, ref or entry.ref)


def table() -> str:
    """The README's "What dspscope checks" table (Markdown)."""
    lines = ["| code | severity | what | reference |", "|---|---|---|---|"]
    for entry in CODES.values():
        what = entry.what.replace("|", "\\|")
        lines.append(f"| `{entry.code}` | {entry.severity} | {what} | {entry.ref} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(), end="")
