"""A SOAP 1.2 (or 1.1) Fault element read into a Fault."""

from __future__ import annotations

from typing import Any

from .codes import finding
from .messages import Fault, Finding
from .names import SOAP11, SOAP12
from .xmlparse import XML_NS, split_tag


def read_fault(el: Any, soap_ns: str) -> Fault:
    def first(parent: Any, local: str) -> Any:
        if parent is None:
            return None
        for c in parent:
            if isinstance(c.tag, str) and split_tag(c.tag)[1] == local:
                return c
        return None

    def qname(node: Any) -> tuple[str | None, str | None]:
        if node is None:
            return None, None
        text = (node.text or "").strip()
        prefix, sep, name = text.rpartition(":")
        return (node.nsmap.get(prefix or None) if sep or prefix else None), name or None

    if soap_ns == SOAP11:
        _, code = qname(first(el, "faultcode"))
        reason_el = first(el, "faultstring")
        detail_el = first(el, "detail")
        return Fault(
            code=code or "",
            reason=(reason_el.text or "").strip() if reason_el is not None else None,
            detail=_text_of(detail_el),
        )
    code_el = first(el, "Code")
    _, code = qname(first(code_el, "Value"))
    sub_ns, subcode = qname(first(first(code_el, "Subcode"), "Value"))
    reason = None
    reason_el = first(el, "Reason")
    if reason_el is not None:
        texts = [t for t in reason_el if isinstance(t.tag, str)]
        english = [t for t in texts if (t.get(f"{{{XML_NS}}}lang") or "").lower().startswith("en")]
        chosen = (english or texts or [None])[0]
        reason = (chosen.text or "").strip() if chosen is not None else None
    return Fault(
        code=code or "",
        subcode=subcode,
        reason=reason,
        detail=_text_of(first(el, "Detail")),
        subcode_namespace=sub_ns,
    )


def _text_of(el: Any) -> str | None:
    if el is None:
        return None
    text = " ".join(" ".join(el.itertext()).split())
    return text or None



def reason_problems(el: Any, soap_ns: str) -> list[Finding]:
    """SOAP 1.2 requires xml:lang on every Reason Text."""
    if soap_ns != SOAP12:
        return []
    out = []
    for reason in el:
        if not isinstance(reason.tag, str) or split_tag(reason.tag) != (SOAP12, "Reason"):
            continue
        for text in reason:
            if isinstance(text.tag, str) and text.get(f"{{{XML_NS}}}lang") is None:
                out.append(finding(
                    "soap.fault-reason-lang",
                    f"fault Reason Text {(text.text or '').strip()[:60]!r} has no xml:lang; SOAP 1.2 "
                    "says each Text MUST carry one (the DSM error-reporting page's example uses "
                    'xml:lang="en")'))
    return out
