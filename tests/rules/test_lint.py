"""rules check's warnings: rules that load but never fire."""

from __future__ import annotations

from pathlib import Path

import pytest

from dspscope.cli import main
from dspscope.rules.lint import named_elements, warnings
from tests.rules.support import rules_of

REFUSE_USER = """\
  - name: refuse-user
    match:
      operation: CreatePostScanJob
      xpath: "//dsp:UserIdentifier = 'S-1-5-21-1-2-3-500'"
    action: {fault: InvalidArgs}
"""


def test_named_elements_skips_attributes_functions_and_literals() -> None:
    xpath = ("//dsp:ElementData[@dsp:Name = 'dsp:JobStatus']/child::dsp:JobStatus"
             "[attribute::dsp:Valid][dsp:count(x)] | //dsp:ElementData")
    assert named_elements(xpath) == ["ElementData", "JobStatus"]


@pytest.mark.parametrize(("rule", "expected"), [
    (REFUSE_USER, ["xpath names dsp:UserIdentifier, which never occurs in a CreatePostScanJob response, "
                   "so the rule never fires; it is in the request: test it with request_xpath"]),
    (REFUSE_USER.replace("xpath:", "request_xpath:"), []),
    (REFUSE_USER.replace("operation: CreatePostScanJob", "operation: CreatePostScanJob\n      direction: request"),
     []),
    ("  - {name: t, match: {direction: request, xpath: '//dsp:DocumentID = 3'}, action: {delay: 1}}\n",
     ["xpath names dsp:DocumentID, which is in no WS-DSP message (check its spelling)"]),
    ("  - {name: t, match: {operation: SendImage, xpath: '//dsp:DocumentId'}, action: {delay: 1}}\n",
     ["xpath names dsp:DocumentId, which never occurs in a SendImage response"]),
    ("  - {name: t, match: {operation: [SendImage, EndPostScanJob], direction: request, "
     "xpath: '//dsp:JobToken'}, action: {delay: 1}}\n", []),
    ("  - {name: t, match: {operation: PostScanJobEndStateEvent, xpath: '//dsp:JobCompletedState'}, "
     "action: {drop: true}}\n", []),
    ("  - {name: t, match: {operation: PostScanJobStatusEvent, xpath: '//dsp:JobCompletedState'}, "
     "action: {drop: true}}\n", ["never occurs in a PostScanJobStatusEvent event"]),
])
def test_warnings(rule: str, expected: list[str]) -> None:
    found = warnings(rules_of(rule))
    assert len(found) == len(expected), found
    for line, text in zip(found, expected, strict=True):
        assert text in line and ": warning: " in line


def test_rules_check_prints_the_warning_and_still_passes(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n" + REFUSE_USER)
    assert main(["rules", "check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}:2: rule 'refuse-user': warning: xpath names dsp:UserIdentifier")
    assert out[1] == f"{path}: ok, 1 rule(s), no seed (a random one each run)"
