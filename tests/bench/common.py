"""What every figure of the suite shares: the result row, the table, the
machine facts, and child processes that never outlive the run.

A benchmark here compares ours with a baseline measured in the same run on
the same machine; nothing asserts on absolute times.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Result:
    """One line of the table: ``ours`` against ``baseline`` in ``unit``.

    ``target`` is the ratio ours/baseline the issue asks for, ``better``
    says which side of it is good; ``absolute`` targets (seconds, MB) are
    checked on ``ours`` alone.  None where there is no baseline or target."""

    figure: str
    name: str
    unit: str
    ours: float | None
    baseline: float | None = None
    target: float | None = None
    better: Better = "higher"
    absolute: bool = False
    note: str = ""
    baseline_text: str | None = None  # e.g. ">120 s" for a baseline that gave up

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ours is None:
            return None
        value = self.ours if self.absolute else self.ratio
        if value is None:
            if self.baseline_text and self.baseline_text.startswith(">") and self.better == "lower":
                return True  # the baseline gave up: anything we measured is faster
            return None
        return value >= self.target if self.better == "higher" else value <= self.target

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        sign = ">=" if self.better == "higher" else "<="
        if self.absolute:
            return f"{sign} {_num(self.target)} {self.unit}"
        return f"{sign} {_num(self.target)} x"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(results: Sequence[Result]) -> list[str]:
    """The results as a Markdown table (readable as text, pasteable in the README)."""
    header = ("figure", "measure", "ours", "baseline", "ratio", "target", "met?")
    lines = [header]
    for r in results:
        met = {True: "yes", False: "**no**", None: ""}[r.met]
        base = r.baseline_text or (f"{_num(r.baseline)} {r.unit}" if r.baseline is not None else "-")
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        name = f"{r.name} ({r.note})" if r.note else r.name
        ours = f"{_num(r.ours)} {r.unit}" if r.ours is not None else "failed"
        lines.append((r.figure, name, ours, base, ratio, r.target_text, met))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"

    out = [fmt(lines[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(fmt(row) for row in lines[1:])
    return out


# ----------------------------------------------------------------- machine


def mitmproxy_version() -> str:
    from mitmproxy.version import VERSION

    return VERSION


def machine() -> list[str]:
    """Facts to print beside the table."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"machine: {os.cpu_count()} cores ({usable} usable), {_cpu_model()}, "
        f"{_memory_gb():.0f} GB RAM, {platform.system()} {platform.release()}",
        f"python: {platform.python_implementation()} {platform.python_version()}; "
        f"mitmproxy {mitmproxy_version()}; load average at start {load[0]:.2f}",
    ]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    return platform.machine()


def _memory_gb() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


# --------------------------------------------------------------- processes


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None,
                  timeout: float = 60.0) -> None:
    """Until something accepts connections on HOST:port (or the process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)  # polling interval of this wait
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout:g} s")


def status_kb(pid: int, field: str) -> int | None:
    """A ``/proc/PID/status`` memory field (VmRSS, VmHWM) in kB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Children:
    """Child processes of a figure: each in its own process group, all
    terminated (then killed) when the block ends, whatever happened."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: Sequence[str], *, log: Path | None = None,
              env: dict[str, str] | None = None, stdin: int | None = subprocess.DEVNULL,
              stdout: int | IO[bytes] | None = None) -> subprocess.Popen[bytes]:
        out: int | IO[bytes] | None = stdout
        if out is None:
            out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        proc = subprocess.Popen(list(args), stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT, env=full_env, start_new_session=True)
        if log is not None and not isinstance(out, int):
            out.close()  # the child holds its own copy
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
        """SIGTERM (the proxies flush their captures), then SIGKILL."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)
        return proc.returncode

    def close(self) -> None:
        for proc in list(self.procs):
            self.stop(proc, timeout=5.0)

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory removed afterwards (captures can be large)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=f"dspscope-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def say(text: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
