"""Checks of the package around an envelope: the Content-Type against the
SOAP version and wsa:Action (SOAP 1.2 HTTP binding), and the MTOM/XOP
packaging (multipart/related parameters, the root part's type, cid: hrefs).

Pure functions of a decoded message and the Content-Type it came with; the
HTTP status of an answer is checked with the exchange (wsdsp.exchange).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from . import mtom
from .codes import finding
from .messages import Finding, Message

SOAP12_MEDIA = "application/soap+xml"
SOAP11_MEDIA = "text/xml"
XOP_MEDIA = "application/xop+xml"
_ACTION_IN = re.compile(r'action\s*=\s*\\?"?([^";\\]+)', re.I)


def check_package(message: Message, content_type: str | None, parts: mtom.Multipart | None,
                  includes: Iterable[str]) -> Iterator[Finding]:
    """Findings about how ``message`` was packaged and labelled."""
    for href in includes:
        if href.strip()[:4].lower() != "cid:":
            yield finding("mtom.href-not-cid",
                          f"xop:Include href {href!r} is not a cid: URL; XOP requires a cid: URL "
                          "naming the MIME part (read here as if it were one)")
    if not content_type or message.protocol == "not-soap":
        return
    media, params = mtom.content_type_params(content_type)
    envelope_media: str | None = media
    action_param = params.get("action")
    if media == "multipart/related":
        yield from _multipart(params, parts)
        start_info = params.get("start-info")
        envelope_media = mtom.content_type_params(start_info)[0] if start_info else None
        root_type = parts.root.content_type if parts is not None and parts.root is not None else None
        for where in (start_info, root_type):  # start-info, or the root part's type="...; action=..."
            if action_param is None and where:
                found = _ACTION_IN.search(where)
                action_param = found.group(1).strip() if found else None
    if envelope_media in (SOAP12_MEDIA, SOAP11_MEDIA):  # other labels are not a SOAP binding's
        yield from _version(message, envelope_media)
    if action_param and message.action and action_param.strip() != message.action:
        yield finding("soap.action-parameter-mismatch",
                      f"Content-Type action={action_param!r} but wsa:Action is {message.action!r}; "
                      "the two must name the same action")


def _multipart(params: dict[str, str], parts: mtom.Multipart | None) -> Iterator[Finding]:
    kind = params.get("type")
    if not kind:
        yield finding("mtom.no-type-parameter",
                      'multipart/related without a type parameter; MTOM requires '
                      'type="application/xop+xml" (RFC 2387 makes type required)')
    elif kind.strip().lower() != XOP_MEDIA:
        yield finding("mtom.no-type-parameter",
                      f"multipart/related type is {kind!r}; an MTOM message has "
                      'type="application/xop+xml"')
    if parts is not None and parts.root is not None:
        root_type = parts.root.content_type
        root_media = mtom.content_type_params(root_type)[0] if root_type else ""
        if root_media != XOP_MEDIA:
            yield finding("mtom.root-not-xop",
                          f"the root part is typed {root_type or 'nothing'!r}; MTOM requires the "
                          "envelope's part to be application/xop+xml")


def _version(message: Message, media: str) -> Iterator[Finding]:
    if message.soap_version == "1.2" and media != SOAP12_MEDIA:
        yield finding("soap.content-type-mismatch",
                      f"a SOAP 1.2 envelope sent as {media!r}; SOAP 1.2 over HTTP is "
                      f"{SOAP12_MEDIA} ({SOAP11_MEDIA} tells the receiver SOAP 1.1)")
    elif message.soap_version == "1.1" and media == SOAP12_MEDIA:
        yield finding("soap.content-type-mismatch",
                      f"a SOAP 1.1 envelope sent as {SOAP12_MEDIA}, the SOAP 1.2 media type; "
                      f"SOAP 1.1 is sent as {SOAP11_MEDIA}")
