"""What every test that runs real things needs, written once:

* ``free_port()``: a loopback port nobody listens on right now;
* ``eventually(predicate, timeout, what)`` and its ``async`` twin: poll until
  the state a test needs is there, or fail naming what it waited for (this is
  how tests wait: never a fixed sleep);
* ``Process``: a real child process with its output in files (no pipe can
  fill up), waited for by what it prints or by its port, stopped with SIGTERM
  then SIGKILL; the ``processes`` fixture (tests/conftest.py) stops whatever a
  test started and shows their output when the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from dspscope import local

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
#: Long enough for a loaded two-core machine; a test that needs longer says so.
TIMEOUT = 30.0
T = TypeVar("T")


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on at ``host`` (loopback unless told)."""
    return local.free_port(host)


def _timed_out(what: str, timeout: float, detail: str | Callable[[], str]) -> AssertionError:
    extra = detail() if callable(detail) else detail
    return AssertionError(f"not within {timeout:g} s: {what}" + (f"\n{extra}" if extra else ""))


def eventually(predicate: Callable[[], T], timeout: float = TIMEOUT, what: str = "",
               *, interval: float = 0.02, detail: str | Callable[[], str] = "") -> T:
    """Poll ``predicate`` until it returns something true, and return that.
    Fails with ``what`` (what the test waited for) and ``detail`` (e.g. a
    process's output) when ``timeout`` seconds pass first.  For synchronous
    tests and threads; an ``async`` test uses ``eventually_async``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(what or repr(predicate), timeout, detail)
        time.sleep(interval)


async def eventually_async(predicate: Callable[[], T | Awaitable[T]], timeout: float = TIMEOUT,
                           what: str = "", *, interval: float = 0.02,
                           detail: str | Callable[[], str] = "") -> T:
    """``eventually`` for ``async`` tests: the event loop (an in-process
    server, a Textual app under a pilot) keeps running while it polls.
    ``predicate`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise _timed_out(what or repr(predicate), timeout, detail)
        await asyncio.sleep(interval)


def listening(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections at host:port now."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class Process:
    """A real child process (``argv``) with stdout and stderr in files under
    ``workdir`` (named after ``name``).  ``env`` adds to the environment
    (unbuffered output always)."""

    def __init__(self, argv: Sequence[str], workdir: Path, name: str = "proc", *,
                 env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        self.argv = [str(a) for a in argv]
        self.name = name
        self.out = workdir / f"{name}.out"
        self.err = workdir / f"{name}.err"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err, env=full_env, cwd=cwd,
                                         stdin=subprocess.DEVNULL)

    @classmethod
    def dspscope(cls, *args: str, workdir: Path, name: str | None = None,
                 env: dict[str, str] | None = None) -> Process:
        """``python -m dspscope ARGS`` with this interpreter."""
        return cls([sys.executable, "-m", "dspscope", *args], workdir,
                   name or "-".join(args[:2]) or "dspscope", env=env)

    # ---- what it shows

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def output(self) -> str:
        """Both streams, labelled: what a failing test shows."""
        code = self.proc.poll()
        state = "running" if code is None else f"exited {code}"
        return (f"--- {self.name} ({state}): {' '.join(self.argv)}\n"
                f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}")

    # ---- waiting for it

    def _check(self, pattern: str | re.Pattern[str]) -> re.Match[str] | None:
        # Whole lines only: a line being written must not match half a port.
        found = next(filter(None, (re.search(pattern, text[: text.rfind("\n") + 1])
                                   for text in (self.stderr, self.stdout))), None)
        if found:
            return found
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited {self.proc.returncode} before printing "
                                 f"{pattern!r}\n{self.output()}")
        return None

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = TIMEOUT) -> re.Match[str]:
        """The first match of the regular expression ``pattern`` in the
        complete lines of stderr, else stdout, once they are printed; fails
        if the process exits first."""
        return eventually(lambda: self._check(pattern), timeout, f"{self.name} prints {pattern!r}",
                          detail=self.output)

    async def wait_for_async(self, pattern: str | re.Pattern[str],
                             timeout: float = TIMEOUT) -> re.Match[str]:
        return await eventually_async(lambda: self._check(pattern), timeout,
                                      f"{self.name} prints {pattern!r}", detail=self.output)

    def _accepts(self, port: int, host: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited {self.proc.returncode} before listening on "
                                 f"{host}:{port}\n{self.output()}")
        return listening(port, host)

    def wait_listening(self, port: int, host: str = HOST, timeout: float = TIMEOUT) -> None:
        eventually(lambda: self._accepts(port, host), timeout,
                   f"{self.name} listens on {host}:{port}", detail=self.output)

    async def wait_listening_async(self, port: int, host: str = HOST,
                                   timeout: float = TIMEOUT) -> None:
        await eventually_async(lambda: self._accepts(port, host), timeout,
                               f"{self.name} listens on {host}:{port}", detail=self.output)

    # ---- stopping it

    def send(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        """Send ``sig`` (SIGTERM unless told) and wait for the exit status;
        after ``timeout`` seconds SIGKILL it and fail, showing its output."""
        self.send(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop within {timeout:g} s of "
                                 f"{signal.Signals(sig).name}\n{self.output()}") from None

    async def stop_async(self, sig: int = signal.SIGTERM, timeout: float = TIMEOUT) -> int:
        """``stop`` for ``async`` tests: the event loop keeps running."""
        self.send(sig)
        try:
            await eventually_async(lambda: self.proc.poll() is not None, timeout,
                                   f"{self.name} exits after {signal.Signals(sig).name}")
        except AssertionError:
            self.kill()
            raise AssertionError(f"{self.name} did not stop within {timeout:g} s of "
                                 f"{signal.Signals(sig).name}\n{self.output()}") from None
        return self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; never fails (teardown)."""
        self.send(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class Processes:
    """The processes one test started (the ``processes`` fixture): each one
    closed when the test ends, and their output shown if it failed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Process] = []

    def start(self, argv: Sequence[str], name: str = "proc", *,
              env: dict[str, str] | None = None, cwd: Path = ROOT) -> Process:
        proc = Process(argv, self.workdir, self._unique(name), env=env, cwd=cwd)
        self.started.append(proc)
        return proc

    def dspscope(self, *args: str, name: str | None = None,
                 env: dict[str, str] | None = None) -> Process:
        proc = Process.dspscope(*args, workdir=self.workdir,
                                name=self._unique(name or "-".join(args[:2]) or "dspscope"), env=env)
        self.started.append(proc)
        return proc

    def _unique(self, name: str) -> str:
        return f"{len(self.started) + 1:02d}-{name}"

    def output(self) -> str:
        return "\n".join(proc.output() for proc in self.started)

    def close(self) -> None:
        for proc in reversed(self.started):
            proc.close()
