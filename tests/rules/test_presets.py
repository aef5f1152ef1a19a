"""The shipped presets: the five the issue asks for, each valid and
documented at the top."""

from __future__ import annotations

import pytest

from dspscope.rules import find_preset, list_presets, load

REQUIRED = ("busy-server", "flaky-network", "token-mixup", "slow-upload", "server-spec-violations")


def test_the_required_presets_are_shipped() -> None:
    assert set(REQUIRED) <= {p.name for p in list_presets()}


@pytest.mark.parametrize("name", REQUIRED)
def test_each_preset_loads_and_is_documented(name: str) -> None:
    preset = find_preset(name)
    rule_set = load(preset.path)
    assert rule_set.rules and rule_set.seed_given  # presets replay the same way each run
    assert preset.summary and len(preset.description.splitlines()) >= 5
    assert f"rules/presets/{name}.yaml" in preset.description  # says how to use it
    assert all(rule.description for rule in rule_set.rules)


def test_find_by_file_name_and_unknown_names() -> None:
    assert find_preset("busy-server.yaml").name == "busy-server"
    with pytest.raises(KeyError, match="presets: busy-server"):
        find_preset("no-such")
