"""`dspscope sim server` and `dspscope sim device` as real processes over
loopback: what a user runs and sees (bound URL line, JSON results, summary,
exit status, one-line errors, clean shutdown on signals)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from dspscope.sim.server import ScanServer
from tests.helpers import Process, Processes, eventually_async, free_port
from tests.sim.support import USER

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DSPSCOPE = (sys.executable, "-m", "dspscope", "sim")
TIMEOUT = 30.0


@dataclass
class Running:
    process: Process
    url: str

    @property
    def lines(self) -> list[str]:
        return self.process.stdout.splitlines()

    async def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        code = await self.process.stop_async(sig, TIMEOUT)
        return code, self.process.stderr


@asynccontextmanager
async def server_process(processes: Processes, *args: str) -> AsyncIterator[Running]:
    """``dspscope sim server`` on an ephemeral port, once it says where it
    listens; stopped (if the test did not) when the block ends."""
    proc = processes.dspscope("sim", "server", "--port", "0", *args)
    found = await proc.wait_for_async(r"listening on (\S+)", TIMEOUT)
    try:
        yield Running(proc, found.group(1))
    finally:
        proc.close()


async def dspscope(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *DSPSCOPE, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(TIMEOUT * 2):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err


async def test_twenty_jobs_over_tls_with_events_between_processes(
    tmp_path: Path, processes: Processes
) -> None:
    store = tmp_path / "store"
    async with server_process(processes, "--store", str(store)) as server:
        assert server.url.startswith("https://127.0.0.1:") and server.url.endswith("/ScanServer")
        cert = next(line.split()[1] for line in server.lines if line.startswith("certificate "))
        code, out, err = await dspscope(
            "device",
            "--server",
            server.url,
            "--cafile",
            cert,
            "--jobs",
            "20",
            "--images",
            "5",
            "--concurrency",
            "20",
            "--subscribe",
            "--json",
            "--image-size",
            "20k",
            "--seed",
            "1",
            "--user",
            USER,
            "--document-root",
            "Invoices",
        )
        assert code == 0, err
        results = [json.loads(line) for line in out.splitlines()]
        assert len(results) == 20 and len({r["token"] for r in results}) == 20
        for result in results:
            assert result["ok"] and result["final_state"] == "Completed"
            assert result["images_sent"] == result["images_reported"] == 5
            assert result["events"] == 7 and result["faults"] == [] and result["problems"] == []
            assert set(result["timings_ms"]) >= {
                "discover",
                "create",
                "images",
                "end",
                "wait",
                "total",
            }
        assert "20 job(s): 20 completed, 0 failed; 100 image(s)" in err
        code, err = await server.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in err
    assert any(line.endswith("stopping") for line in server.lines)
    assert sorted(p.name for p in (store / USER).iterdir()) == sorted(
        f"Invoices-{n}.png" for n in range(1, 101)
    )


async def test_plain_http_busy_port_and_ctrl_c(processes: Processes) -> None:
    async with server_process(processes, "--no-tls", "-q") as server:
        assert server.url.startswith("http://127.0.0.1:")
        code, out, err = await dspscope(
            "device", "--server", server.url, "--jobs", "3", "--images", "2"
        )
        assert code == 0, err
        jobs = out.splitlines()[:3]
        assert [line.split()[:2] for line in jobs] == [["job", "1"], ["job", "2"], ["job", "3"]]
        assert all(": Completed, 2 image(s), " in line for line in jobs), out
        assert "3 job(s): 3 completed, 0 failed" in out
        port = server.url.rsplit(":", 1)[1].split("/")[0]
        code, _, err = await dspscope("server", "--no-tls", "--port", port)
        assert_one_line_error(code, err, "busy", port)
        code, err = await server.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in err


async def test_bad_certificate_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    code, _, err = await dspscope("server", "--port", "0", "--cert", str(junk), "--key", str(junk))
    assert_one_line_error(code, err, "certificate", str(junk))


async def test_unreachable_server_is_one_line() -> None:
    port = free_port()  # nothing listens there
    code, _, err = await dspscope("device", "--server", f"http://127.0.0.1:{port}/ScanServer")
    assert_one_line_error(code, err, "cannot connect")


async def test_a_failed_job_makes_the_exit_status_1() -> None:
    async with ScanServer(port=0, tls_on=False) as server:
        server.fault_hook = lambda m: "InvalidArgs" if m.operation == "EndPostScanJob" else None
        code, out, err = await dspscope("device", "--server", server.url, "--jobs", "2", "--json")
    assert code == 1
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["error"] for r in results] == ["EndPostScanJob: InvalidArgs"] * 2
    assert [r["faults"] for r in results] == [["EndPostScanJob: InvalidArgs"]] * 2
    assert "2 job(s): 0 completed, 2 failed" in err


async def test_ctrl_c_stops_a_looping_device_and_cancels_its_jobs(processes: Processes) -> None:
    async with ScanServer(port=0, tls_on=False) as server:
        process = processes.dspscope(
            "sim",
            "device",
            "--server",
            server.url,
            "--loop",
            "--concurrency",
            "2",
            "--images",
            "100000",
            "--image-size",
            "2k",
            "--json",
        )
        await eventually_async(
            lambda: len(server.jobs.jobs) >= 2
            and min(j.images for j in server.jobs.jobs.values()) >= 3,
            TIMEOUT,
            "both jobs created, with images, and known to the device",
            detail=process.output,
        )
        assert await process.stop_async(signal.SIGINT, TIMEOUT) == 0, process.stderr
        out, err = process.stdout, process.stderr
        assert "Traceback" not in err
        results = [json.loads(line) for line in out.splitlines()]
        assert [r["error"] for r in results] == ["interrupted", "interrupted"]
        assert {j.completed_state for j in server.jobs.jobs.values()} == {"Canceled"}
        assert "2 interrupted" in err
