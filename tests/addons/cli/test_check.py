from __future__ import annotations

import json

from mitmproxy import io as mitm_io

from dspscope.cli import main
from tests.addons import support


def write_capture(path, flows):
    with open(path, "wb") as fh:
        writer = mitm_io.FlowWriter(fh)
        for f in flows:
            writer.add(f)
    return str(path)


def test_clean_capture_exits_0(tmp_path, capsys):
    capture = write_capture(tmp_path / "c.mitm", support.job_flows(images=2))
    assert main(["check", capture]) == 0
    out = capsys.readouterr().out
    assert f"job {support.TOKEN} from 10.0.0.7: Completed, 2 image(s)" in out
    assert out.splitlines()[-1].startswith("ok:")


def test_errors_exit_1_with_json_and_junit(tmp_path, capsys):
    flows = support.job_flows(images=2)
    del flows[1]
    first = write_capture(tmp_path / "a.mitm", flows[:3])
    second = write_capture(tmp_path / "b.mitm", flows[3:])
    junit = tmp_path / "r.xml"
    assert main(["check", first, second, "--json", "--junit", str(junit)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == [first, second]
    assert [g["code"] for g in report["jobs"][0]["findings"]] == ["job.images-mismatch"]
    assert b"<failure" in junit.read_bytes()


def test_unreadable_capture_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.mitm"
    bad.write_bytes(b"this is no capture")
    assert main(["check", str(bad)]) == 2
    assert "bad.mitm" in capsys.readouterr().err


def test_missing_capture_gives_the_error_and_no_verdict(tmp_path, capsys):
    good = write_capture(tmp_path / "c.mitm", support.job_flows(images=1))
    junit = tmp_path / "r.xml"
    assert main(["check", good, str(tmp_path / "missing.mitm"), "--junit", str(junit)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"dspscope check: {tmp_path / 'missing.mitm'}: unreadable: No such file or directory"]
    assert not junit.exists()


def test_torn_capture_is_still_reported(tmp_path, capsys):
    capture = write_capture(tmp_path / "c.mitm", support.job_flows(images=1))
    data = (tmp_path / "c.mitm").read_bytes()
    (tmp_path / "c.mitm").write_bytes(data[:-5])
    assert main(["check", capture]) == 0
    captured = capsys.readouterr()
    assert "unreadable after 4 flows" in captured.err
    assert "job.never-ended" not in captured.out
