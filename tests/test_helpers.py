"""The shared test helpers fail the way they promise: naming what was
waited for, showing a process's output, stopping what does not stop."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, Process, eventually, eventually_async, free_port, listening

SLEEPER = "import signal, sys, time; {}print('ready', flush=True); time.sleep(60)"


def test_eventually_returns_the_first_true_value() -> None:
    calls = iter([0, None, "", "there"])
    assert eventually(lambda: next(calls), 5, "a value") == "there"


def test_eventually_names_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match=r"not within 0.05 s: the moon\nstill dark"):
        eventually(lambda: False, 0.05, "the moon", detail=lambda: "still dark")


async def test_eventually_async_awaits_coroutines_and_names_what_it_waited_for() -> None:
    async def later() -> int:
        return 3

    assert await eventually_async(later, 5, "three") == 3
    with pytest.raises(AssertionError, match="not within 0.05 s: never"):
        await eventually_async(lambda: 0, 0.05, "never")


def test_free_port_is_free_and_then_listened_on(tmp_path: Path) -> None:
    port = free_port()
    assert not listening(port)
    server = Process([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                     tmp_path, "http")
    try:
        server.wait_listening(port)
        assert listening(port)
    finally:
        assert server.stop() == -signal.SIGTERM


def test_wait_for_matches_output_and_fails_with_it_when_the_process_exits(tmp_path: Path) -> None:
    proc = Process([sys.executable, "-c", SLEEPER.format("")], tmp_path, "sleeper")
    assert proc.wait_for(r"re(a)dy").group(1) == "a"
    proc.close()
    died = Process([sys.executable, "-c", "import sys; sys.exit('gone: no config')"], tmp_path, "d")
    with pytest.raises(AssertionError, match=r"(?s)d exited 1 before printing 'ready'.*gone: no"):
        died.wait_for("ready")


def test_stop_kills_what_ignores_sigterm_and_says_so(tmp_path: Path) -> None:
    stubborn = SLEEPER.format("signal.signal(signal.SIGTERM, signal.SIG_IGN); ")
    proc = Process([sys.executable, "-c", stubborn], tmp_path, "stubborn")
    proc.wait_for("ready")
    with pytest.raises(AssertionError, match=r"(?s)stubborn did not stop within 0.3 s of SIGTERM"):
        proc.stop(timeout=0.3)
    assert proc.returncode == -signal.SIGKILL


async def test_stop_async_returns_the_exit_status(tmp_path: Path) -> None:
    proc = Process([sys.executable, "-c", SLEEPER.format("")], tmp_path, "sleeper")
    await proc.wait_for_async("ready")
    assert await proc.stop_async(signal.SIGINT) == -signal.SIGINT


@pytest.mark.e2e  # a whole pytest run in a child process
def test_the_processes_fixture_shows_output_of_a_failing_test(pytester: pytest.Pytester,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest("from tests.conftest import *  # noqa: F403\n")
    pytester.makepyfile(f"""
        import sys
        def test_fails(processes):
            proc = processes.start([sys.executable, "-c", "print('hello from the child')"], "child")
            proc.proc.wait()
            assert False
        def test_passes(processes):
            processes.start([sys.executable, "-c", {SLEEPER.format("")!r}], "sleeper").wait_for("ready")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*processes started by the test*", "*hello from the child*"])
