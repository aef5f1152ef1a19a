"""The proxy as users run it: ``dspscope proxy`` (and stock ``mitmdump -s``)
as real processes over loopback, between the simulated device and server."""

from __future__ import annotations

import io
import json
import re
import signal
import socket
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from mitmproxy import io as mitm_io

from dspscope.sim.device import SimulatedDevice
from dspscope.sim.results import DeviceOptions
from dspscope.sim.server import ScanServer
from dspscope.wsdsp import build, encode
from tests.helpers import Process, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
JOBS, IMAGES, CONCURRENCY = 6, 2, 3


def dspscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dspscope", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def read_flows(path: Path) -> list:
    with open(path, "rb") as fh:
        return list(mitm_io.FlowReader(fh).stream())


async def start_proxy(home: Path, server: ScanServer, *extra: str) -> tuple[Process, int]:
    port, events = free_port(), free_port()
    argv = [sys.executable, "-m", "dspscope", "proxy", "--upstream",
            f"{server.scheme}://127.0.0.1:{server.port}", "--listen-port", str(port),
            "--events-port", str(events), "--save", str(home / "cap.mitm"),
            "--jsonl", str(home / "cap.jsonl"), *extra]
    if server.tls_on:
        argv += ["--upstream-ca", str(home / "sim-server-cert.pem")]
    proxy = Process(argv, home, "proxy", env={"DSPSCOPE_HOME": str(home)})
    await proxy.wait_for_async("listening on")
    return proxy, port


def device_options(home: Path, scheme: str, port: int, **kw) -> DeviceOptions:
    cafile = home / "mitmproxy" / "mitmproxy-ca-cert.pem" if scheme == "https" else None
    return DeviceOptions(server=f"{scheme}://127.0.0.1:{port}/ScanServer", cafile=cafile,
                         image_size=20_000, event_timeout=20, request_timeout=30, seed=1, **kw)


@pytest.mark.parametrize(("tls", "sig"), [(False, signal.SIGINT), (True, signal.SIGTERM)],
                         ids=["http-ctrl-c", "https-sigterm"])
async def test_concurrent_jobs_through_the_proxy(tmp_path, tls, sig):
    async with ScanServer(port=0, tls_on=tls, config_dir=tmp_path) as server:
        proxy, port = await start_proxy(tmp_path, server)
        try:
            device = SimulatedDevice(device_options(tmp_path, server.scheme, port, jobs=JOBS,
                                                    images=IMAGES, concurrency=CONCURRENCY,
                                                    subscribe=True))
            results = await device.run()
            await server.idle()
            assert await proxy.stop_async(sig) == 0, proxy.stderr
        finally:
            proxy.kill()
        sent = server.exchanges + server.pusher.delivered
    assert [r.error for r in results if not r.ok] == []
    confdir = tmp_path / "mitmproxy"
    assert stat.S_IMODE(confdir.stat().st_mode) == 0o700
    assert stat.S_IMODE((confdir / "mitmproxy-ca.pem").stat().st_mode) == 0o600
    assert "Traceback" not in proxy.stderr
    assert "stopped after" in proxy.stderr

    # Nothing lost: every request the server answered, every event it delivered.
    records = [json.loads(line) for line in (tmp_path / "cap.jsonl").read_text().splitlines()]
    flows = read_flows(tmp_path / "cap.mitm")
    assert len(records) == len(flows) == sent
    assert len(proxy.stdout.splitlines()) >= sent
    assert {r["id"] for r in records} == {f.id for f in flows}

    # Every job is complete, with its events, in the capture.
    per_job = {r.token: Counter() for r in results}
    for record in records:
        if record["job_token"] in per_job:
            per_job[record["job_token"]][record["operation"]] += 1
    for token, seen in per_job.items():
        assert seen["CreatePostScanJob"] == 1 and seen["SendImage"] == IMAGES, (token, seen)
        assert seen["EndPostScanJob"] == 1 and seen["PostScanJobEndStateEvent"] == 1, (token, seen)
        assert seen["PostScanJobStatusEvent"] >= 1
    assert all(r["error"] is None for r in records)
    assert sum(r["kind"] == "event" for r in records) == server.pusher.delivered

    # Stock mitmproxy reads the capture; check finds nothing wrong.
    stock = subprocess.run([str(BIN / "mitmdump"), "-nr", str(tmp_path / "cap.mitm")],
                           capture_output=True, text=True, timeout=60)
    assert stock.returncode == 0, stock.stderr
    assert stock.stdout.count("POST") >= sent
    check = dspscope("check", str(tmp_path / "cap.mitm"), "--json")
    report = json.loads(check.stdout)
    assert check.returncode == 0, check.stdout
    assert report["counts"]["error"] == 0
    assert len(report["jobs"]) == JOBS
    assert {j["outcome"] for j in report["jobs"]} == {"Completed"}

    # The index the proxy wrote beside the capture: every flow, where it is,
    # the same record as the JSONL file; check reads it to the same verdict.
    index = (tmp_path / "cap.mitm.index").read_bytes().splitlines()[1:]
    entries = [json.loads(line) for line in index]
    assert [e[3] for e in entries] == records
    data = (tmp_path / "cap.mitm").read_bytes()
    assert [mitm_io.FlowReader(io.BytesIO(data[at:at + size])).stream().__next__().id
            for at, size, _, _ in entries] == [f.id for f in flows]
    again = dspscope("check", str(tmp_path / "cap.mitm"), "--json", "--no-index")
    assert json.loads(again.stdout) == report


async def post(url: str, message, *, attachments=(), ssl=None) -> int:
    encoded = encode(message, attachments)
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=encoded.content, ssl=ssl,
                                headers={"Content-Type": encoded.content_type}) as response:
            await response.read()
            return response.status


async def test_seeded_violations_are_reported(tmp_path):
    async with ScanServer(port=0, tls_on=False, config_dir=tmp_path) as server:
        proxy, port = await start_proxy(tmp_path, server, "--quiet")
        try:
            device = SimulatedDevice(device_options(tmp_path, "http", port, jobs=1, images=1))
            assert all(r.ok for r in await device.run())
            endpoint = device.endpoint
            stray = build.job_request("EndPostScanJob", to=endpoint,
                                      token="00000000-0000-4000-8000-000000000000")
            assert await post(endpoint, stray) == 500
            bad_user = build.create_post_scan_job(to=endpoint, user="nobody", psp_id="not-a-guid")
            assert await post(endpoint, bad_user) == 400
            assert await proxy.stop_async(signal.SIGINT) == 0
        finally:
            proxy.kill()
    assert proxy.stdout == ""
    check = dspscope("check", str(tmp_path / "cap.mitm"), "--junit", str(tmp_path / "r.xml"))
    assert check.returncode == 1, check.stdout
    codes = {line.split()[1].rstrip(":") for line in check.stdout.splitlines()
             if line.startswith("  error")}
    assert codes == {"job.unknown-token", "dsp.invalid-sid", "dsp.invalid-guid"}
    again = dspscope("check", str(tmp_path / "cap.mitm"), "--no-index")
    assert (tmp_path / "cap.mitm.index").exists()
    assert again.stdout == check.stdout and again.returncode == 1
    assert b"<failure" in (tmp_path / "r.xml").read_bytes()


async def test_busy_port_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = dspscope("proxy", "--upstream", "http://127.0.0.1:9", "--listen-port", str(port),
                          "--save", str(tmp_path / "c.mitm"))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dspscope proxy: ") and str(port) in lines[0]


async def test_stock_mitmdump_loads_the_addon(tmp_path):
    async with ScanServer(port=0, tls_on=False, config_dir=tmp_path) as server:
        port, events = free_port(), free_port()
        dump = Process([str(BIN / "mitmdump"), "-q", "-s", str(ROOT / "addons" / "dspscope.py"),
                     "--mode", f"reverse:http://127.0.0.1:{server.port}",
                     "--mode", f"reverse:http://127.0.0.1:9@{events}", "--listen-host", "127.0.0.1",
                     "--listen-port", str(port), "--set", "connection_strategy=lazy",
                     "--set", f"confdir={tmp_path / 'conf'}", "--set", f"dspscope_events={events}",
                     "--set", f"dspscope_jsonl={tmp_path / 'm.jsonl'}", "--set", "dspscope_headless=true"],
                    tmp_path, "mitmdump", env={"DSPSCOPE_HOME": str(tmp_path)})
        try:
            await dump.wait_listening_async(port)
            device = SimulatedDevice(device_options(tmp_path, "http", port, jobs=1, images=1,
                                                    subscribe=True))
            assert all(r.ok for r in await device.run())
            await server.idle()
            assert await dump.stop_async(signal.SIGINT) == 0
        finally:
            dump.kill()
        sent = server.exchanges + server.pusher.delivered
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert len(records) == sent
    assert "CreatePostScanJob" in dump.stdout and "<- PostScanJobEndStateEvent" in dump.stdout
    assert [f["code"] for r in records for f in r["findings"]] == []


@pytest.mark.parametrize("subscribe", [True, False], ids=["subscribed", "polling"])
async def test_a_job_line_comes_when_the_job_ends(tmp_path, subscribe):
    async with ScanServer(port=0, tls_on=False, config_dir=tmp_path) as server:
        proxy, port = await start_proxy(tmp_path, server)
        try:
            device = SimulatedDevice(device_options(tmp_path, "http", port, jobs=1, images=1,
                                                    subscribe=subscribe))
            [result] = await device.run()
            assert result.ok, result.error
            # the proxy runs on, and nothing else crosses it: the line is there already
            await proxy.wait_for_async(
                re.escape(f"job {result.token} from 127.0.0.1: Completed, 1 image(s)"))
            lines = proxy.stdout.splitlines()
            # right after what ended it: the end-state event, or the poll
            # whose JobState said Completed
            last = "<- PostScanJobEndStateEvent" if subscribe else "GetPostScanJobElements"
            ended = max(i for i, line in enumerate(lines) if last in line)
            assert lines[ended + 1].startswith(f"job {result.token} ")
        finally:
            assert await proxy.stop_async(signal.SIGINT) == 0, proxy.stderr
    assert proxy.stdout.count(f"job {result.token} from") == 1


async def test_an_untrusted_server_certificate_says_how_to_trust_it(tmp_path):
    async with ScanServer(port=0, tls_on=True, config_dir=tmp_path) as server:
        port, events = free_port(), free_port()
        proxy = Process([sys.executable, "-m", "dspscope", "proxy", "--upstream",
                         f"https://127.0.0.1:{server.port}", "--listen-port", str(port),
                         "--events-port", str(events), "-v"], tmp_path, "proxy",
                        env={"DSPSCOPE_HOME": str(tmp_path)})
        try:
            await proxy.wait_for_async("listening on")
            # the address once, though the proxy listens on TCP and UDP (HTTP/3) there
            assert f"listening on 127.0.0.1:{port}; forwarding to https://127.0.0.1:" in proxy.stderr
            assert proxy.stderr.count(f"127.0.0.1:{port}") == 1
            url = f"https://127.0.0.1:{port}/ScanServer"
            for _ in range(2):
                assert await post(url, build.probe(to=url), ssl=False) == 502
            await proxy.wait_for_async("--upstream-ca PEM")
        finally:
            assert await proxy.stop_async(signal.SIGINT) == 0
    hint = [line for line in proxy.stderr.splitlines() if "--upstream-ca" in line]
    assert len(hint) == 1  # once per server, not per attempt
    assert hint[0].startswith(f"warning: cannot verify the scan server's certificate at "
                              f"127.0.0.1:{server.port} (Certificate verify failed: ")
    assert "or skip the check with --insecure" in hint[0]
