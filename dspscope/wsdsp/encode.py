"""encode(Message) -> bytes: the one place that builds WS-DSP XML (and the
MTOM package around it)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from . import names
from .errors import LocalProtocolError
from .messages import Message
from .names import DSP, SOAP11, SOAP12, WSA, WSA10
from .walk import PREFIX_OF


@dataclass(frozen=True, slots=True)
class Encoded:
    """An HTTP body and the Content-Type to send it with."""

    content: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class AttachmentData:
    content_id: str
    data: bytes
    content_type: str = "application/octet-stream"


def encode(message: Message, attachments: tuple[AttachmentData, ...] = ()) -> Encoded:
    """Build the XML (and MTOM package, when attachments are given)."""
    if message.protocol == "not-soap":
        raise LocalProtocolError("cannot encode a not-soap message", hint="build a SOAP Message")
    soap_ns = SOAP11 if message.soap_version == "1.1" else SOAP12
    wsa_ns = WSA10 if message.addressing == "2005/08" else WSA
    # dsp is always declared: QName texts (fault subcodes, element names) use it.
    # (Any keys: lxml-stubs do not know that None names the default namespace.)
    nsmap: dict[Any, str] = {"soap": soap_ns, "wsa": wsa_ns, "dsp": DSP}
    used = set(message.namespaces.values())
    if message.fault and message.fault.subcode_namespace:
        used.add(message.fault.subcode_namespace)  # its QName text needs the prefix declared
    sub_ns = message.fault.subcode_namespace if message.fault else None
    if sub_ns and sub_ns not in PREFIX_OF:
        nsmap["vnd"] = sub_ns
    for prefix, uri in names.PREFIXES.items():
        if uri in used and uri not in nsmap.values():
            nsmap[prefix] = uri
    env = etree.Element(f"{{{soap_ns}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(env, f"{{{soap_ns}}}Header")
    for local, value in (
        ("To", message.to),
        ("Action", message.action),
        ("MessageID", message.message_id),
        ("RelatesTo", message.relates_to),
    ):
        if value is not None:
            etree.SubElement(header, f"{{{wsa_ns}}}{local}").text = value
    if message.reply_to is not None:
        reply = etree.SubElement(header, f"{{{wsa_ns}}}ReplyTo")
        etree.SubElement(reply, f"{{{wsa_ns}}}Address").text = message.reply_to
    for local, value in message.headers.items():
        path = "Header/" + local
        _build(header, local, value, message.namespaces.get(path, soap_ns), path, message)
    body = etree.SubElement(env, f"{{{soap_ns}}}Body")
    for local, value in message.fields.items():
        _build(body, local, value, message.namespaces.get(local, soap_ns), local, message)
    xml = etree.tostring(env, xml_declaration=True, encoding="utf-8")
    media = "text/xml" if soap_ns == SOAP11 else "application/soap+xml"
    if not attachments:
        return Encoded(xml, f"{media}; charset=utf-8")
    return _package(xml, media, attachments)


def _build(parent: Any, local: str, value: Any, ns: str, path: str, message: Message) -> None:
    if isinstance(value, list):
        for item in value:
            _build(parent, local, item, ns, path, message)
        return
    el = etree.SubElement(parent, f"{{{ns}}}{local}" if ns else local)
    if not isinstance(value, Mapping):
        el.text = _text(value)
        return
    for key, item in value.items():
        if key == "#text":
            el.text = _text(item)
        elif key.startswith("@"):
            aname = key[1:]
            ans = message.namespaces.get(f"{path}/@{aname}")
            el.set(f"{{{ans}}}{aname}" if ans else aname, _text(item))
        else:
            cpath = f"{path}/{key}"
            _build(el, key, item, message.namespaces.get(cpath, ns), cpath, message)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _package(xml: bytes, media: str, attachments: tuple[AttachmentData, ...]) -> Encoded:
    boundary = f"uuid:{uuid.uuid4()}"
    root_id = f"root.{uuid.uuid4().hex}@dspscope"
    chunks = [
        f"--{boundary}\r\n"
        f'Content-Type: application/xop+xml; charset=utf-8; type="{media}"\r\n'
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{root_id}>\r\n\r\n".encode(),
        xml,
    ]
    for att in attachments:
        chunks.append(
            f"\r\n--{boundary}\r\n"
            f"Content-Type: {att.content_type}\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{att.content_id}>\r\n\r\n".encode()
        )
        chunks.append(att.data)
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        f'start="<{root_id}>"; start-info="{media}"'
    )
    return Encoded(b"".join(chunks), content_type)
