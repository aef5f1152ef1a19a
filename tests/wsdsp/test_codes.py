"""The code table is the contract: every code raised anywhere is in it,
every reference is one a user can open, and the README shows all of it."""

from __future__ import annotations

import re
from pathlib import Path

from dspscope.wsdsp import codes

ROOT = Path(__file__).resolve().parents[2]
RAISED = re.compile(r'finding\(\s*"([a-z0-9.-]+)"')


def _sources() -> list[Path]:
    out: list[Path] = []
    for top in ("dspscope", "addons", "rules", "viewer"):
        out.extend(p for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts)
    return out


def test_every_code_raised_is_in_the_table() -> None:
    raised: set[str] = set()
    for path in _sources():
        raised |= set(RAISED.findall(path.read_text(encoding="utf-8")))
    assert raised, "no finding() calls found: the scan is broken"
    assert raised <= set(codes.CODES), sorted(raised - set(codes.CODES))


def test_findings_are_made_only_through_the_table() -> None:
    """A Finding built by hand would escape the table (and its reference)."""
    hand_made = re.compile(r'\bFinding\(\s*"(?:error|warning|info)"')
    offenders = [str(p.relative_to(ROOT)) for p in _sources()
                 if hand_made.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_references_are_ones_a_user_can_open() -> None:
    for entry in codes.CODES.values():
        assert entry.ref and "WS-DSP.md" not in entry.ref and ".md" not in entry.ref, entry
        assert entry.ref.startswith(("DSM documentation, page '", "WS-Scan documentation, page '",
                                     "SOAP ", "WS-Addressing", "XML",
                                     "RFC", "dspscope's")), entry
        assert entry.what and entry.severity in ("error", "warning", "info")


def test_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- codes:start -->\n") + len("<!-- codes:start -->\n")
    end = readme.index("<!-- codes:end -->")
    assert readme[start:end] == codes.table(), (
        "README's 'What dspscope checks' table is stale: "
        "regenerate it with `python -m dspscope.wsdsp.codes`")


def test_finding_takes_severity_and_reference_from_the_table() -> None:
    made = codes.finding("wsa.missing-action", "no wsa:Action header")
    assert (made.severity, made.ref) == ("error", codes.CODES["wsa.missing-action"].ref)
