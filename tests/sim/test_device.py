"""The simulated device against the simulated server, in one process over
loopback: plain HTTP and TLS, 20 concurrent jobs of 5 images, events matched
to their jobs, retries, giving up, interruption, one-line start errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from dspscope.sim.device import SimulatedDevice
from dspscope.sim.errors import SimError
from dspscope.sim.results import DeviceOptions, JobResult
from dspscope.sim.server import ScanServer
from dspscope.wsdsp import Message
from dspscope.wsdsp.jobs import JobState
from tests.helpers import eventually_async, free_port
from tests.sim.support import USER


def options(server: ScanServer, **changes: object) -> DeviceOptions:
    base = DeviceOptions(
        server=server.url,
        jobs=20,
        images=5,
        concurrency=20,
        image_size=8_000,
        seed=7,
        backoff=0.01,
        event_timeout=20.0,
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def assert_all_completed(results: list[JobResult], server: ScanServer, images: int = 5) -> None:
    assert len(results) == len({r.token for r in results})
    for result in results:
        assert result.ok, result.to_json()
        assert result.final_state == "Completed"
        assert result.images_sent == result.images_reported == images
        assert result.problems == [] and result.faults == []
        job = server.jobs.jobs[result.token or ""]
        assert job.state is JobState.FINISHED and job.images == images


async def test_twenty_concurrent_jobs_with_events(server: ScanServer, tmp_path: Path) -> None:
    device = SimulatedDevice(options(server, subscribe=True, user=USER, document_root="../Batch"))
    results = await device.run()
    await server.idle()
    assert len(results) == 20
    assert_all_completed(results, server)
    # Every job heard its own 7 events: created, first image, ended, filter start/done, final, end state.
    assert [r.events for r in results] == [7] * 20
    assert device.summary.ok == 20 and device.summary.failed == 0 and device.summary.images == 100
    stored = sorted(p.name for p in (tmp_path / "store" / USER).iterdir())
    assert stored == sorted(f"Batch-{n}.png" for n in range(1, 101))
    assert list((tmp_path / "store" / ".incoming").iterdir()) == []


async def test_twenty_concurrent_jobs_over_tls(tmp_path: Path) -> None:
    async with ScanServer(port=0) as server:
        assert server.url.startswith("https://127.0.0.1:")
        device = SimulatedDevice(options(server, cafile=server.cert, format="tiff-single-g4"))
        results = await device.run()
        assert_all_completed(results, server)
        assert all(r.events == 0 for r in results)  # not subscribed: the device polled JobStatus


async def test_tls_with_subscription_and_default_trust(tmp_path: Path) -> None:
    """Without --cafile the device trusts the simulator's own certificate."""
    async with ScanServer(port=0) as server:
        results = await SimulatedDevice(
            options(server, jobs=3, concurrency=3, subscribe=True)
        ).run()
        assert_all_completed(results, server)


async def test_untrusted_certificate_is_one_clear_error(tmp_path: Path) -> None:
    async with ScanServer(port=0, config_dir=tmp_path / "elsewhere") as server:
        with pytest.raises(SimError, match="--cafile"):
            await SimulatedDevice(options(server, jobs=1)).run()


async def test_unreachable_server_is_one_clear_error() -> None:
    port = free_port()  # nothing listens there
    device = SimulatedDevice(DeviceOptions(server=f"http://127.0.0.1:{port}/ScanServer"))
    with pytest.raises(SimError, match="cannot connect"):
        await device.run()


def failing(
    operation: str, subcode: str, times: int | None
) -> tuple[Callable[[Message], str | None], list[int]]:
    calls = [0]

    def hook(message: Message) -> str | None:
        if message.operation != operation:
            return None
        calls[0] += 1
        return subcode if times is None or calls[0] <= times else None

    return hook, calls


async def test_temporary_errors_are_retried(server: ScanServer) -> None:
    server.fault_hook, _ = failing("SendImage", "ServerErrorTemporaryError", 3)
    results = await SimulatedDevice(options(server, jobs=1, concurrency=1)).run()
    (result,) = results
    assert result.ok and result.images_sent == result.images_reported == 5
    assert result.retries == 3
    assert result.faults == ["SendImage: ServerErrorTemporaryError"] * 3


async def test_retries_are_bounded(server: ScanServer) -> None:
    server.fault_hook, calls = failing("CreatePostScanJob", "ServerErrorTemporaryError", None)
    device = SimulatedDevice(options(server, jobs=1, concurrency=1, retries=2))
    (result,) = await device.run()
    assert not result.ok and calls == [3]
    assert result.error == "CreatePostScanJob: ServerErrorTemporaryError"
    assert device.summary.failed == 1


async def test_other_faults_end_the_job_without_retry(server: ScanServer) -> None:
    server.fault_hook, calls = failing("EndPostScanJob", "ServerErrorInternalError", None)
    device = SimulatedDevice(options(server, jobs=2, concurrency=2))
    results = await device.run()
    assert calls == [2]
    assert [r.ok for r in results] == [False, False]
    assert all(
        r.error == "EndPostScanJob: ServerErrorInternalError" and r.retries == 0 for r in results
    )
    assert device.summary.failed == 2


async def test_interrupting_a_loop_cancels_the_jobs_in_flight(server: ScanServer) -> None:
    seen: list[str] = []

    def progress(what: str, result: JobResult) -> None:
        seen.append(what)

    device = SimulatedDevice(
        options(server, loop=True, concurrency=2, images=200, jobs=1), on_progress=progress
    )
    task = asyncio.create_task(device.run())
    await eventually_async(
        lambda: len(server.jobs.jobs) >= 2 and min(j.images for j in server.jobs.jobs.values()) >= 2,
        20,
        "both jobs created, with images, and known to the device",
    )
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    interrupted = [r for r in device.results if r.error == "interrupted"]
    assert len(interrupted) == 2 and device.summary.interrupted == 2
    assert seen.count("started") == seen.count("finished") == 2
    ends = {server.jobs.jobs[r.token or ""].completed_state for r in interrupted}
    assert ends == {"Canceled"}


async def test_unsupported_format_is_one_clear_error(server: ScanServer) -> None:
    with pytest.raises(SimError, match="xps"):
        await SimulatedDevice(options(server, format="xps")).run()
