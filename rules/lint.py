"""Warnings about rules that load but cannot do what they seem to say: an
XPath naming a ``dsp:`` element that never occurs in the messages the rule
sees.  The usual case is a response rule testing what only the request
holds ("refuse user X's CreatePostScanJob"): its ``xpath`` sees the
CreatePostScanJobResponse, where no UserIdentifier is; ``request_xpath``
(or ``direction: request``) is what was meant.  Pure."""

from __future__ import annotations

import re
from collections.abc import Iterator

from dspscope.wsdsp.elements import DSP_ELEMENTS, dsp_elements

from .spec import Rule, RuleSet, Side

_LITERALS = re.compile(r"'[^']*'|\"[^\"]*\"")
#: dsp:Name as an element step: not an attribute (@, attribute::), not a function call.
_DSP_NAME = re.compile(r"(@|attribute::)?\s*\bdsp:([A-Za-z_][\w.-]*)(\s*\()?")
_ANYWHERE = frozenset().union(*DSP_ELEMENTS.values())


def named_elements(xpath: str) -> list[str]:
    """The dsp element local names an XPath steps through, in order, once each."""
    out: list[str] = []
    for attribute, name, call in _DSP_NAME.findall(_LITERALS.sub("''", xpath)):
        if not attribute and not call and name not in out:
            out.append(name)
    return out


def warnings(rule_set: RuleSet) -> list[str]:
    """One line per problem: ``file:line: rule 'name': warning: ...``."""
    return [f"{rule.file}:{rule.line}: rule {rule.name!r}: warning: {text}"
            for rule in rule_set.rules for text in _rule_warnings(rule)]


def _rule_warnings(rule: Rule) -> Iterator[str]:
    m = rule.match
    if m.xpath is not None:
        yield from _unseen("xpath", m.xpath.text, m.operations, rule.side)
    if m.request_xpath is not None:
        yield from _unseen("request_xpath", m.request_xpath.text, m.operations, "request")


def _unseen(key: str, xpath: str, operations: tuple[str, ...], side: Side) -> Iterator[str]:
    for name in named_elements(xpath):
        if name not in _ANYWHERE:
            yield f"{key} names dsp:{name}, which is in no WS-DSP message (check its spelling)"
            continue
        if not operations:
            continue
        seen = [dsp_elements(op, side) for op in operations]
        if any(elements is None or name in elements for elements in seen):
            continue
        what = " or ".join(f"{op} {side}" for op in operations)
        hint = ""
        if side == "response" and any(name in (dsp_elements(op, "request") or ()) for op in operations):
            hint = ("; it is in the request: test it with request_xpath (this rule still acts on "
                    "the response), or use direction: request")
        yield f"{key} names dsp:{name}, which never occurs in a {what}, so the rule never fires{hint}"
