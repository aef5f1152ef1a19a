"""`dspscope decode` as a user runs it: a real process, files and stdin,
the JSON contract, exit status 2 with one line for unusable input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dspscope.wsdsp import AttachmentData, build, encode
from tests.wsdsp import support

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "dspscope" / "wsdsp" / "samples" / "createpostscanjob.xml"
CONTRACT = {"protocol", "soap_version", "kind", "operation", "action", "message_id", "relates_to",
            "to", "job_token", "fields", "fault", "attachments", "findings"}


def dspscope(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "dspscope", *args], cwd=ROOT, input=stdin,
                          capture_output=True, timeout=60)


def decoded(out: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    assert set(result) == CONTRACT
    return result


def test_decode_file() -> None:
    got = decoded(dspscope("decode", str(SAMPLE)))
    assert (got["protocol"], got["kind"], got["operation"]) == ("ws-dsp", "request", "CreatePostScanJob")
    assert got["soap_version"] == "1.2" and got["fault"] is None and got["attachments"] == []
    assert isinstance(got["fields"]["CreatePostScanJobRequest"], dict)
    for finding in got["findings"]:
        assert set(finding) <= {"severity", "code", "text", "ref"}


def test_decode_stdin_with_content_type(tmp_path: Path) -> None:
    message = build.send_image(to=support.SERVER, token=support.TOKEN.upper(), document_id=3,
                               format="png", content_id="p3@d")
    data = support.image("png")
    encoded = encode(message, (AttachmentData("p3@d", data, "image/png"),))
    got = decoded(dspscope("decode", "-", "--content-type", encoded.content_type, stdin=encoded.content))
    assert got["operation"] == "SendImage" and got["job_token"] == support.TOKEN
    [att] = got["attachments"]
    assert att["format"] == "png" and att["size"] == len(data) and att["referenced"] is True
    assert got["fields"]["SendImageRequest"]["DocumentDescription"]["DocumentId"] == 3
    assert got["findings"] == []


def test_decode_file_that_starts_with_mime_headers(spec_dir: Path, tmp_path: Path) -> None:
    text = (spec_dir / "dsm-docs" / "sendimagerequest-example.md").read_text()
    path = tmp_path / "sendimage.mime"
    path.write_bytes(support.FENCE.search(text).group(1).encode())  # type: ignore[union-attr]
    got = decoded(dspscope("decode", str(path)))
    assert got["operation"] == "SendImage" and len(got["attachments"]) == 1


def test_fault_json(tmp_path: Path) -> None:
    request = build.job_request("EndPostScanJob", to=support.SERVER, token=support.TOKEN)
    path = tmp_path / "fault.xml"
    path.write_bytes(encode(build.fault(request, "InvalidArgs", "JobToken")).content)
    got = decoded(dspscope("decode", str(path), "--compact"))
    assert got["kind"] == "fault" and got["protocol"] == "ws-dsp"
    assert got["fault"] == {"code": "Sender", "subcode": "InvalidArgs",
                            "reason": "At least one input argument is invalid.", "detail": "JobToken"}


def test_compact_is_one_line() -> None:
    out = dspscope("decode", str(SAMPLE), "--compact")
    assert out.returncode == 0 and out.stdout.count(b"\n") == 1


def test_garbage_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(256)))
    got = decoded(dspscope("decode", str(path)))
    assert got["protocol"] == "not-soap" and got["kind"] == "unknown"


def test_findings_do_not_change_the_exit_status(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(encode(build.job_request("EndPostScanJob", to=support.SERVER, token="nope")).content)
    got = decoded(dspscope("decode", str(path)))
    assert "dsp.invalid-guid" in {f["code"] for f in got["findings"]}


@pytest.mark.parametrize("target", ["missing", "directory"])
def test_unreadable_file(tmp_path: Path, target: str) -> None:
    path = tmp_path / "nothing-here.xml" if target == "missing" else tmp_path
    out = dspscope("decode", str(path))
    assert out.returncode == 2 and out.stdout == b""
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dspscope decode: cannot read ")
    assert "Traceback" not in out.stderr.decode()


def test_missing_argument_is_a_usage_error() -> None:
    out = dspscope("decode")
    assert out.returncode == 2 and b"usage:" in out.stderr


def test_help_lists_decode() -> None:
    out = dspscope("--help")
    assert out.returncode == 0 and b"decode" in out.stdout
