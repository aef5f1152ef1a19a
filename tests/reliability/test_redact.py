"""Redaction: ``wsdsp.redact`` on messages, and ``dspscope export --redact``
on a capture the real proxy wrote between the simulated device and server.

What must hold: no original SID, user name, e-mail address, UNC path or
SharePoint site anywhere in the output; the same value has the same
placeholder in every flow; images keep their size (blank, in a valid MTOM
package); stock mitmproxy reads the result.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mitmproxy import io as mitm_io

from dspscope.sim.device import SimulatedDevice
from dspscope.sim.results import DeviceOptions
from dspscope.sim.server import ScanServer
from dspscope.wsdsp import AttachmentData, build, decode, encode
from dspscope.wsdsp.redact import Redactor, blank_digest
from tests.reliability.corpus import PNG, PSP, SERVER, TOKEN
from tests.reliability.support import ROOT, Proxy, count

USERS = ("S-1-5-21-1004336348-1177238915-682003330-512", "S-1-5-21-2222222222-3333333333-4444444444-1105")
SHARES = (r"\\fileserver.corp.example\Scans\Jane Doe", r"\\nas01\private$\j.doe")
EMAILS = ("jane.doe@corp.example", "Boss.Person@corp.example")
SITE = "https://sharepoint.corp.example/sites/legal/Shared Documents"
NAME = r"CORP\jdoe"
SECRETS = (*USERS, *SHARES, *EMAILS, SITE, NAME)


def _create(user: str) -> bytes:
    sharepoint = build.filter_instructions(
        "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/sharepoint",
        {"SharePointConfig": {"SaveToSharePointSites": {"SaveToSharePointSiteURL": [SITE]}}})
    return encode(build.create_post_scan_job(
        to=SERVER, user=user, psp_id=PSP,
        filters=[build.fileshare_filter(*SHARES), build.email_filter(*EMAILS), sharepoint])).content


def _assert_clean(data: bytes) -> None:
    text = data.decode("utf-8", "replace").casefold()
    for secret in SECRETS:
        assert secret.casefold() not in text, secret
        assert secret.replace("\\", "\\\\").casefold() not in text, secret  # as JSON writes it


def test_personal_fields_get_consistent_placeholders() -> None:
    redactor = Redactor()
    first, second, again = (decode(redactor.body(_create(user), None).content)
                            for user in (USERS[0], USERS[1], USERS[0]))
    ids = [m.body["UserIdentifier"] for m in (first, second, again)]
    assert ids[0] == ids[2] != ids[1]
    assert all(i.startswith("S-1-5-21-0-0-0-") for i in ids)  # still SID-shaped: no new finding
    assert {f.code for f in first.findings} == {f.code for f in decode(_create(USERS[0])).findings}
    for message in (first, second):
        _assert_clean(json.dumps(message.to_json()).encode())
    assert first.operation == "CreatePostScanJob"


def test_free_text_and_unshaped_values() -> None:
    redactor = Redactor()
    redactor.learn({"JobOriginatingUserName": NAME, "UserIdentifier": "nobody"})
    detail = f"cannot write to {SHARES[0]} for {NAME} ({USERS[0]}), told {EMAILS[1]}"
    cleaned = redactor.text(detail)
    _assert_clean(cleaned.encode())
    assert "DOMAIN\\user" in cleaned and "example.invalid" in cleaned
    # A value that is not a SID keeps not being one: the finding about it stays.
    bad = encode(build.create_post_scan_job(to=SERVER, user="nobody", psp_id=PSP)).content
    result = decode(redactor.body(bad, None).content)
    assert result.body["UserIdentifier"] == "user-id-1"
    assert "dsp.invalid-sid" in {f.code for f in result.findings}
    assert redactor.text(redactor.text(detail)) == redactor.text(detail)  # placeholders stay put


def test_images_become_same_size_blanks_in_a_valid_package() -> None:
    image = PNG * 500
    send = build.send_image(to=SERVER, token=TOKEN, document_id=1, format="png",
                            content_id="jane.doe@corp.example")
    encoded = encode(send, (AttachmentData("jane.doe@corp.example", image, "image/png"),))
    result = Redactor().body(encoded.content, encoded.content_type)
    message = decode(result.content, result.content_type)
    assert [f.code for f in message.findings if f.code.startswith(("mtom.", "xml."))] == []
    (attachment,) = message.attachments
    assert attachment.referenced and attachment.size == len(image)
    assert bytes(attachment.data(result.content)) == bytes(len(image))
    assert attachment.sha256 == blank_digest(len(image))
    _assert_clean(result.content + result.content_type.encode())


def test_bodies_that_do_not_parse_are_scrubbed_as_text() -> None:
    redactor = Redactor()
    broken = _create(USERS[0]).replace(b"</soap:Envelope>", b"")[:-40]
    result = redactor.body(broken, "application/soap+xml")
    _assert_clean(result.content)
    assert redactor.body(PNG * 10, None).content == bytes(len(PNG) * 10)
    wide = _create(USERS[1]).decode().encode("utf-16")[:-9]
    _assert_clean(redactor.body(wide, None).content.decode("utf-16", "replace").encode())


# ----------------------------------------------------------- end to end


@pytest.mark.e2e
async def test_export_redact_end_to_end(tmp_path: Path) -> None:
    capture = tmp_path / "cap.mitm"
    async with ScanServer(port=0, tls_on=False, config_dir=tmp_path) as server:
        proxy = Proxy(tmp_path, f"http://127.0.0.1:{server.port}", "--quiet")
        try:
            import asyncio

            await asyncio.to_thread(proxy.started)
            for n, user in enumerate(USERS):
                device = SimulatedDevice(DeviceOptions(
                    server=f"{proxy.url}/ScanServer", jobs=2, images=2, image_size=30_000, user=user,
                    shares=SHARES, emails=EMAILS, subscribe=n == 0, seed=n, event_timeout=30))
                assert all(r.ok for r in await device.run())
            await server.idle()
            assert await asyncio.to_thread(proxy.stop) == 0
        finally:
            proxy.kill()
    original = capture.read_bytes()
    assert all(s.encode() in original for s in (USERS[0], SHARES[0], EMAILS[0]))

    def export(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dspscope", "export", str(capture), "--redact",
                               *args], cwd=ROOT, capture_output=True, text=True, timeout=120)

    done = export("--format", "mitm", "-o", str(tmp_path / "red.mitm"))
    assert done.returncode == 0, done.stderr
    done = export("--format", "jsonl", "-o", str(tmp_path / "red.jsonl"))
    assert done.returncode == 0, done.stderr
    assert export("--format", "mitm").returncode == 2  # a binary capture needs -o
    redacted_bytes = (tmp_path / "red.mitm").read_bytes()
    records = [json.loads(line) for line in (tmp_path / "red.jsonl").read_text().splitlines()]
    _assert_clean(redacted_bytes)
    _assert_clean((tmp_path / "red.jsonl").read_bytes())

    with open(capture, "rb") as fh:
        before = list(mitm_io.FlowReader(fh).stream())
    with open(tmp_path / "red.mitm", "rb") as fh:
        after = list(mitm_io.FlowReader(fh).stream())
    count("flows exported with --redact", len(after))
    assert [f.id for f in after] == [f.id for f in before] == [r["id"] for r in records]
    stock = subprocess.run([str(Path(sys.executable).parent / "mitmdump"), "-nr", str(tmp_path / "red.mitm")],
                           capture_output=True, text=True, timeout=120)
    assert stock.returncode == 0, stock.stderr

    # One placeholder per user, the same in every flow that names the user.
    users = {r["request"]["fields"]["CreatePostScanJobRequest"]["UserIdentifier"]
             for r in records if r["operation"] == "CreatePostScanJob" and r["kind"] == "exchange"}
    assert len(users) == 2 and all(u.startswith("S-1-5-21-0-0-0-") for u in users)
    by_token = {}
    for flow in after:
        message = decode(flow.request.content or b"", flow.request.headers.get("content-type"))
        if message.operation == "CreatePostScanJob":
            by_token[decode(flow.response.content or b"").job_token] = message.body["UserIdentifier"]
    enders = [r for r in records if r["operation"] == "PostScanJobEndStateEvent"]
    assert enders and all(
        r["request"]["fields"]["PostScanJobEndStateEvent"]["PostScanJobEndState"]["JobOriginatingUserName"]
        == by_token[r["job_token"]] for r in enders)

    # Images: same sizes, blank, still valid MTOM; the decoded records agree.
    sizes_before = _image_sizes(before)
    assert sizes_before and _image_sizes(after) == sizes_before
    for flow in after:
        message = decode(flow.request.content or b"", flow.request.headers.get("content-type"))
        for attachment in message.attachments:
            assert attachment.referenced and not any(attachment.data(flow.request.content or b""))
            assert not [f for f in message.findings if f.code.startswith("mtom.")]
    # The conformance report says the same of both captures.
    reports = [_check(path) for path in (capture, tmp_path / "red.mitm")]
    assert reports[0] == reports[1] and len(reports[0]) == 4


def _check(path: Path) -> list[tuple]:
    done = subprocess.run([sys.executable, "-m", "dspscope", "check", str(path), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    jobs = json.loads(done.stdout)["jobs"]
    return sorted(((j["token"], j["outcome"], j["images"], sorted(f["code"] for f in j["findings"]))
                   for j in jobs), key=str)


def _image_sizes(flows: list) -> list[int]:
    sizes = []
    for flow in flows:
        message = decode(flow.request.content or b"", flow.request.headers.get("content-type"))
        sizes += [a.size for a in message.attachments]
    return sizes


@pytest.mark.parametrize("secret_header", ["Authorization", "Cookie"])
def test_credentials_leave_the_capture(tmp_path: Path, secret_header: str) -> None:
    from mitmproxy.test import tflow

    from dspscope.addons.redaction import redacted

    flow = tflow.tflow(resp=True)
    flow.request.headers[secret_header] = "Basic amRvZTpodW50ZXIy"
    flow.request.headers["X-Scan-User"] = EMAILS[0]
    flow.request.path = f"/ScanServer?user={EMAILS[0]}"
    (out,) = redacted(lambda: [flow])
    assert out.request.headers[secret_header] == "redacted"
    _assert_clean(out.request.headers["X-Scan-User"].encode() + out.request.path.encode())
