"""Test-side helpers: the spec's example messages, byte-level variants of
them (line endings, BOM, UTF-16, other prefixes), and real images."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from dspscope.wsdsp import Message, mtom

FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
QNAME_TEXT = re.compile(r"([A-Za-z_][\w.-]*):([A-Za-z_][\w.-]*)")


@dataclass(frozen=True)
class Example:
    name: str
    content: bytes
    content_type: str | None


def load_example(spec_dir: Path, name: str) -> Example:
    text = (spec_dir / "dsm-docs" / name).read_text(encoding="utf-8")
    found = FENCE.search(text)
    assert found, f"{name}: no fenced block"
    content_type, content = mtom.split_leading_headers(found.group(1).encode("utf-8"))
    return Example(name, content, content_type)


# ------------------------------------------------------------------ variants


def _rebuild(el: etree._Element, parent: etree._Element | None, nsmap: dict[str | None, str],
             rename: dict[str, str]) -> etree._Element:
    if parent is None:
        new = etree.Element(el.tag, nsmap=nsmap)
    else:
        new = etree.SubElement(parent, el.tag)
    for key, value in el.attrib.items():
        new.set(key, _requalify(value, el, rename))
    new.text = _requalify(el.text, el, rename) if len(el) == 0 else el.text
    new.tail = el.tail
    for child in el:
        if isinstance(child.tag, str):
            _rebuild(child, new, nsmap, rename)
    return new


def _requalify(text: str | None, el: etree._Element, rename: dict[str, str]) -> str | None:
    """Rewrite QName-looking text ("dsp:JobStatus") to the new prefix of its
    namespace (or no prefix for the new default namespace)."""
    if text is None:
        return None
    found = QNAME_TEXT.fullmatch(text.strip())
    if not found or found.group(1) not in el.nsmap:
        return text
    uri = el.nsmap[found.group(1)]
    new_prefix = rename.get(uri)
    if new_prefix is None:
        return text
    return f"{new_prefix}:{found.group(2)}" if new_prefix else found.group(2)


def reprefix(xml: bytes, default: str | None = None) -> bytes:
    """The same document with every prefix renamed (n0, n1, ...) and all
    declarations on the root; ``default`` becomes the default namespace.
    QName texts follow their namespace's new prefix."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(xml, parser)
    uris: list[str] = []
    for el in root.iter():
        for uri in el.nsmap.values():
            if uri not in uris:
                uris.append(uri)
    nsmap: dict[str | None, str] = {}
    rename: dict[str, str] = {}
    for i, uri in enumerate(uris):
        if uri == default:
            nsmap[None] = uri
            rename[uri] = ""
        else:
            nsmap[f"n{i}"] = uri
            rename[uri] = f"n{i}"
    return etree.tostring(_rebuild(root, None, nsmap, rename), xml_declaration=True, encoding="utf-8")


def crlf(xml: bytes) -> bytes:
    return xml.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def bom(xml: bytes) -> bytes:
    return b"\xef\xbb\xbf" + xml


def utf16(xml: bytes) -> bytes:
    text = xml.decode("utf-8")
    text = re.sub(r'encoding="utf-8"', 'encoding="UTF-16"', text, flags=re.I)
    return text.encode("utf-16")  # with a BOM


def on_root_part(example: Example, change: Callable[[bytes], bytes]) -> Example:
    """Apply ``change`` to the XML of an example (the root part of an MTOM one)."""
    if example.content_type is None:
        return Example(example.name, change(example.content), None)
    span = mtom.xml_span(example.content, example.content_type)
    assert span is not None
    start, end = span
    content = example.content[:start] + change(example.content[start:end]) + example.content[end:]
    return Example(example.name, content, example.content_type)


# -------------------------------------------------------------------- images


def image(kind: str, *, pages: int = 1) -> bytes:
    """A real small image: png, jpeg, pdf, bmp, tiff-g4, tiff-raw, tiff-jpeg."""
    from PIL import Image

    bilevel = kind in ("tiff-g4", "tiff-g3")
    page = Image.new("1", (64, 48), 1) if bilevel else Image.new("RGB", (64, 48), (200, 30, 30))
    options: dict[str, object] = {}
    fmt = {"png": "PNG", "jpeg": "JPEG", "pdf": "PDF", "bmp": "BMP"}.get(kind, "TIFF")
    if kind == "tiff-g4":
        options["compression"] = "group4"
    elif kind == "tiff-g3":
        options["compression"] = "group3"
    elif kind == "tiff-jpeg":
        options["compression"] = "jpeg"
    if pages > 1:
        options["save_all"] = True
        options["append_images"] = [page.copy() for _ in range(pages - 1)]
    out = io.BytesIO()
    page.save(out, fmt, **options)
    return out.getvalue()


# ------------------------------------------------------------------ builders

SERVER = "https://scan.example:5362/ScanServer/4d15d73c-bbcd-4cba-beae-07e1f8ea9475"
SINK = "https://device.example:5358/events"
TOKEN = "264a19bf-3604-4603-b59d-b47e0f669a1e"
USER = "S-1-5-21-917267712-1342860078-1792151419-500"
PSP = "C4F199C7-6876-4549-A86E-A85035952448"


def built_messages() -> dict[str, tuple[Message, Message | None]]:
    """One message from every builder: name -> (message, the request it answers)."""
    from dspscope.wsdsp import build
    from dspscope.wsdsp.names import FILESHARE, SHAREPOINT

    create = build.create_post_scan_job(
        to=SERVER, user=USER, psp_id=PSP, document_root="Invoices",
        filters=[build.fileshare_filter(r"\\files\scans", r"\\backup\scans"),
                 build.email_filter("a@example.com", "b@example.com", send_to_scan_user=True),
                 build.filter_instructions(SHAREPOINT, {"SharePointConfig": {"SaveToMySite": True}})],
        continue_on_error=False,
    )
    end = build.job_request("EndPostScanJob", to=SERVER, token=TOKEN)
    cancel = build.job_request("CancelPostScanJob", to=SERVER, token=TOKEN)
    elements = build.get_elements(to=SERVER, token=TOKEN)
    image = build.send_image(to=SERVER, token=TOKEN, document_id=7, format="tiff-multi-g4",
                             content_id="page7@device")
    status = {"JobStatus": {
        "JobToken": TOKEN, "JobState": "Processing",
        "JobStateReasons": {"JobStateReason": ["None"]},
        "FilterStatuses": {"FilterStatus": [{"Dialect": FILESHARE, "FilterState": "Processing"}]},
        "ImagesReceived": 3, "JobCreatedTime": "2026-01-01T10:00:00Z"}}
    end_state = {"PostScanJobEndState": {
        "JobToken": TOKEN, "PSP_Identifier": PSP, "PSP_DisplayName": "Invoices",
        "JobOriginatingUserName": "alice", "JobCompletedState": "Completed",
        "JobCompletedStateReasons": {"JobStateReason": ["PostScanJobCompletedSuccessfully"]},
        "FilterCompletedStatuses": {"FilterStatus": [{"Dialect": FILESHARE, "FilterState": "CompletedSuccessfully"}]},
        "ImagesReceived": 3, "JobCompletedTime": "2026-01-01T10:01:00Z"}}
    subscribe = build.subscribe(to=SERVER, notify_to=SINK)
    renew = build.eventing_request("Renew", to=SERVER, identifier="urn:uuid:5b1e", expires="PT2H")
    status_req = build.eventing_request("GetStatus", to=SERVER, identifier="urn:uuid:5b1e")
    unsubscribe = build.eventing_request("Unsubscribe", to=SERVER, identifier="urn:uuid:5b1e")
    get = build.transfer_get(to=SERVER)
    probe = build.probe(to=SERVER)
    out: dict[str, tuple[Message, Message | None]] = {
        "create": (create, None),
        "create-response": (build.response(create, {"JobToken": TOKEN}), create),
        "send-image": (image, None),
        "send-image-response": (build.response(image), image),
        "end": (end, None),
        "end-response": (build.response(end), end),
        "cancel": (cancel, None),
        "cancel-response": (build.response(cancel), cancel),
        "elements": (elements, None),
        "elements-response": (build.response(elements, {"JobElements": {"ElementData": [
            {"@Name": "dsp:JobStatus", "@Valid": True, **status},
            {"@Name": "dsp:JobDescription", "@Valid": False}]}}), elements),
        "status-event": (build.event("PostScanJobStatusEvent", status, to=SINK), None),
        "end-state-event": (build.event("PostScanJobEndStateEvent", end_state, to=SINK), None),
        "subscribe": (subscribe, None),
        "subscribe-response": (build.subscribe_response(
            subscribe, manager=SERVER + "/subs", identifier="urn:uuid:5b1e", expires="PT1H"), subscribe),
        "renew": (renew, None),
        "renew-response": (build.eventing_response(renew, expires="PT2H"), renew),
        "get-status": (status_req, None),
        "get-status-response": (build.eventing_response(status_req, expires="PT1H"), status_req),
        "unsubscribe": (unsubscribe, None),
        "unsubscribe-response": (build.eventing_response(unsubscribe), unsubscribe),
        "subscription-end": (build.subscription_end(
            to=SINK, manager=SERVER + "/subs", identifier="urn:uuid:5b1e", status="SourceShuttingDown"), None),
        "transfer-get": (get, None),
        "transfer-get-response": (build.transfer_get_response(
            get, hosted_address=SERVER, service_id="urn:uuid:9a1c"), get),
        "probe": (probe, None),
        "probe-matches": (build.probe_matches(probe, xaddrs="https://scan.example:5362/ScanServer"), probe),
    }
    for subcode in ("ActionNotSupported", "InvalidArgs", "OperationFailed",
                    "ServerErrorTemporaryError", "ServerErrorInternalError"):
        detail = "PSP_Identifier" if subcode == "InvalidArgs" else None
        out[f"fault-{subcode}"] = (build.fault(create, subcode, detail), create)
    out["fault-vendor"] = (build.fault(end, "PrinterOnFire", "tray 2", subcode_namespace="urn:vendor:x"), end)
    return out
