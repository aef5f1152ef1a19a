"""dspscope rules check|presets, run through the real command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dspscope.cli import main

GOOD = """\
seed: 3
rules:
  - name: busy
    match: {operation: SendImage, direction: request, nth_in_job: 2}
    action: {fault: ServerErrorTemporaryError}
  - name: quiet
    enabled: false
    match: {operation: PostScanJobEndStateEvent}
    action: {drop: true}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_check_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "good.yaml", GOOD)
    assert main(["rules", "check", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: ok, 2 rule(s), seed 3"
    assert out[1] == "  busy [request]: fault ServerErrorTemporaryError on SendImage request"
    assert out[2] == "  quiet [event] (disabled): drop on PostScanJobEndStateEvent event"


def test_check_reports_every_problem_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.yaml", GOOD)
    bad = write(tmp_path, "bad.yaml", GOOD.replace("nth_in_job: 2", "nth_in_job: 0").replace("drop: true", "drop: 1"))
    assert main(["rules", "check", "-q", good, bad]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{bad}:4: rule 'busy': nth_in_job: expected a whole number of at least 1, got 0",
        f"{bad}:9: rule 'quiet': drop: expected true or false, got 1 (number)",
    ]


def test_check_names_clashing_across_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = write(tmp_path, "one.yaml", GOOD)
    two = write(tmp_path, "two.yaml", GOOD)
    assert main(["rules", "check", one, two]) == 1
    out = capsys.readouterr().out
    assert f"{two}:3: rule 'busy': the name is also used in {one}" in out


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check", str(tmp_path / "none.yaml")]) == 1
    assert "none.yaml: cannot read" in capsys.readouterr().out


def test_presets_list_and_print(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "presets"]) == 0
    listing = capsys.readouterr().out
    for name in ("busy-server", "flaky-network", "token-mixup", "slow-upload", "server-spec-violations"):
        assert f"\n{name} " in "\n" + listing
    assert main(["rules", "presets", "busy-server"]) == 0
    assert capsys.readouterr().out.startswith("# A busy scan server")


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "presets", "nope"]) == 2
    assert "no preset 'nope'" in capsys.readouterr().err
    assert main(["rules"]) == 2
    assert "dspscope rules check FILE" in capsys.readouterr().err
