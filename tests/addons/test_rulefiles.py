"""RuleFiles on its own: no mitmproxy, real files."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dspscope import rules
from dspscope.addons.rulefiles import RuleFiles
from tests.helpers import eventually_async


def rule_file(tmp_path: Path, body: str, name: str = "rules.yaml") -> str:
    path = tmp_path / name
    path.write_text(f"seed: 1\nrules:\n{body}")
    return str(path)


def names(files: RuleFiles) -> list[str]:
    return [r.name for r in files.engine.rules]


def test_a_file_with_no_good_rules_is_reported_in_one_line(tmp_path: Path) -> None:
    path = rule_file(tmp_path, "  - {name: x, match: {nth: 1}, action: {fault: Nope}}\n"
                               "  - {name: y, match: {nth: 0}, action: {delay: 1}}\n")
    files = RuleFiles(rules.Engine())
    [error] = files.use([path])
    assert "rules.yaml:3: rule 'x': fault: unknown subcode" in error
    assert error.endswith(f"(and 1 more: dspscope rules check {path})")
    assert names(files) == []


def test_changed_files_reload_and_bad_ones_keep_the_last_good_rules(tmp_path: Path) -> None:
    path = rule_file(tmp_path, "  - {name: a, match: {nth: 1}, action: {delay: 1}}\n")
    files = RuleFiles(rules.Engine())
    assert files.use([path]) == []
    assert names(files) == ["a"]
    assert files.reload(force=False) == {}
    Path(path).write_text("seed: 1\nrules:\n  - {name: a, match: {nth: 0}, action: {delay: 1}}\n")
    errors = files.reload(force=False)
    assert "nth: expected a whole number of at least 1, got 0" in errors[path]
    assert names(files) == ["a"] and files.errors
    Path(path).write_text("seed: 1\nrules:\n  - {name: b, match: {nth: 1}, action: {delay: 1}}\n"
                          "  - {name: c, match: {nth: 1}, action: {delay: 1}}\n")
    os.utime(path, ns=(1, 1))  # a new stamp even on a coarse clock
    assert files.reload(force=False) == {}
    assert names(files) == ["b", "c"] and not files.errors


def test_names_clashing_across_files(tmp_path: Path) -> None:
    one = rule_file(tmp_path, "  - {name: a, match: {nth: 1}, action: {delay: 1}}\n", "one.yaml")
    two = rule_file(tmp_path, "  - {name: a, match: {nth: 2}, action: {delay: 1}}\n", "two.yaml")
    files = RuleFiles(rules.Engine())
    files.use([one, two])
    assert names(files) == ["a"]
    assert "is also used in" in files.errors[two]


def test_a_file_taken_off_the_list_takes_its_rules(tmp_path: Path) -> None:
    one = rule_file(tmp_path, "  - {name: a, match: {nth: 1}, action: {delay: 1}}\n", "one.yaml")
    two = rule_file(tmp_path, "  - {name: b, match: {nth: 1}, action: {delay: 1}}\n", "two.yaml")
    files = RuleFiles(rules.Engine())
    files.use([one, two])
    assert names(files) == ["a", "b"]
    files.use([two])
    assert names(files) == ["b"]


async def test_watch_picks_up_a_changed_file(tmp_path: Path) -> None:
    path = rule_file(tmp_path, "  - {name: a, match: {nth: 1}, action: {delay: 1}}\n")
    files = RuleFiles(rules.Engine())
    files.use([path])
    watcher = asyncio.create_task(files.watch(every=0.01))
    try:
        Path(path).write_text("seed: 1\nrules:\n  - {name: b, match: {nth: 1}, action: {delay: 1}}\n")
        os.utime(path, ns=(1, 1))
        await eventually_async(lambda: names(files) == ["b"], 10, "the changed file's rule loaded")
    finally:
        watcher.cancel()
    assert names(files) == ["b"]
