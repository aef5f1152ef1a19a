"""The README's rule reference: every example in it is a valid rule file,
and there is one example per action."""

from __future__ import annotations

import re
from pathlib import Path

from dspscope.rules import REGISTRY, parse
from dspscope.rules.parse_actions import TRANSPORT_KEYS, TRANSPORT_WORDS

README = Path(__file__).resolve().parents[2] / "README.md"


def yaml_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Rules"):]
    end = section.find("\n## ", 1)
    section = section if end < 0 else section[:end]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)


def test_readme_rule_examples_are_valid() -> None:
    whole, reference = yaml_blocks()
    assert parse(whole, "README").rules[0].name == "busy-on-third-image"
    rules = parse("seed: 1\nrules:\n" + reference, "README").rules
    used = {name for rule in rules for name in rule.action.names}
    assert used == set(REGISTRY)
    kinds = {rule.action.transport.kind for rule in rules if rule.action.transport is not None}
    assert kinds == set(TRANSPORT_WORDS) | set(TRANSPORT_KEYS)
    edits = {edit.kind for rule in rules for edit in rule.action.rewrite}
    assert edits == {"text", "set_attribute", "remove_attribute", "remove", "insert"}


def test_readme_ws_scan_rule_example_is_valid() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Debugging a WSD scanner (WS-Scan)"):]
    section = section[:section.find("\n## ", 1)]
    [block] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    rules = parse(block, "README").rules
    assert [r.match.operations for r in rules] == [("CreateScanJob",), ("RetrieveImage",)]
