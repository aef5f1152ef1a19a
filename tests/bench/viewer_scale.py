"""Figure 4: the viewer at scale.  ``dspscope open`` (the Textual app,
headless under the pilot, see viewer_probe) on generated captures of 1k,
10k and 100k exchanges, against stock ``mitmproxy -nr`` on the same files
at 1k and 10k (in a pseudo-terminal, time-boxed); then live append at
1,000 exchanges/s with input latency measured meanwhile.

First screen is counted from the process start (imports included) to a
screen showing exchanges, for both programs.  Each capture is opened twice:
first without an index (the viewer writes one as it reads), then with it
(what a capture written by ``dspscope proxy --save`` has from the start);
filters and memory are measured on the second.  Live append goes through
the proxy's viewer bridge, which spools flows and records to disk, and the
memory it retains per exchange is the slope of RSS (sampled every 2 s
after a garbage collection) over rows, from the first quarter of the run
to its end."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import capture_gen
from tests.bench.common import BIN, ROOT, Result, percentile, say, scratch, status_kb

FIGURE = "4 viewer"
FIRST_SCREEN_TARGET = 2.0
FILTER_TARGET = 0.2
LATENCY_TARGET = 0.1  # ours: a key that shows within 100 ms feels immediate
RETAINED_TARGET = 1.0  # KB per exchange: a day at 10 exchanges/s in under 1 GB
LOADED_TARGET = 10.0  # s: 100k exchanges with jobs and filters over every row
FILTERS = ("op:SendImage", "10.0.0.105")
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[a-zA-Z]|\x1b[()][A-Z0-9]|\x1b[=>]")


@dataclass(frozen=True)
class Scale:
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    stock_sizes: tuple[int, ...] = (1_000, 10_000)
    stock_timeout: float = 120.0
    live_rate: int = 1000
    live_seconds: float = 60.0


FULL = Scale()
QUICK = Scale(sizes=(1_000, 10_000), stock_sizes=(1_000,), stock_timeout=60.0, live_seconds=8.0)
SMOKE = Scale(sizes=(100,), stock_sizes=(), live_rate=200, live_seconds=1.5)


def _probe(args: list[str], timeout: float) -> tuple[float, dict[str, Any]]:
    """Run the viewer probe; (epoch it was started, its result)."""
    began = time.time()
    proc = subprocess.run([sys.executable, "-m", "tests.bench.viewer_probe", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return began, json.loads(line[len("RESULT "):])
    raise RuntimeError(f"viewer probe failed ({proc.returncode}): {proc.stderr[-2000:]}")


def stock_first_screen(path: Path, home: Path, timeout: float) -> tuple[float | None, float]:
    """Seconds until ``mitmproxy -nr path`` shows a flow line (None: gave up
    after ``timeout``), and its peak RSS in MB by then."""
    home.mkdir(parents=True, exist_ok=True)
    began = time.time()
    pid, fd = pty.fork()
    if pid == 0:  # the child: become stock mitmproxy in a 160x48 terminal
        os.environ.update(TERM="xterm-256color", HOME=str(home))
        try:
            os.execv(str(BIN / "mitmproxy"), ["mitmproxy", "-nr", str(path),
                                               "--set", f"confdir={home / 'mitmproxy'}"])
        finally:
            os._exit(127)
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    seen = b""
    shown: float | None = None
    peak = 0.0
    try:
        while time.time() - began < timeout:
            ready, _, _ = select.select([fd], [], [], 0.1)
            peak = max(peak, (status_kb(pid, "VmHWM") or 0) / 1024)
            if not ready:
                continue
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                break
            seen = (seen + data)[-(1 << 16):]
            if b"/ScanServer" in _ANSI.sub(b"", seen):
                shown = time.time() - began
                break
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return shown, peak


def run(scale: Scale = FULL) -> list[Result]:
    results: list[Result] = []
    with scratch("viewer") as work:
        stock: dict[int, tuple[float | None, float]] = {}
        ours: dict[int, tuple[float, dict[str, Any]]] = {}
        first: dict[int, tuple[float, dict[str, Any]]] = {}
        for size in sorted(set(scale.sizes) | set(scale.stock_sizes)):
            path = work / f"capture-{size}.mitm"
            say(f"figure 4: writing a capture of {size:,} exchanges")
            capture_gen.write(path, size)
            if size in scale.stock_sizes:
                say(f"figure 4: stock mitmproxy -nr on {size:,} (up to {scale.stock_timeout:g} s)")
                stock[size] = stock_first_screen(path, work / "home", scale.stock_timeout)
            if size in scale.sizes:
                say(f"figure 4: dspscope viewer on {size:,}, first open (writes the index)")
                first[size] = _probe(["open", str(path)], timeout=3600)
                say(f"figure 4: dspscope viewer on {size:,}, from the index")
                args = ["open", str(path), *(f"--filter={f}" for f in FILTERS)]
                ours[size] = _probe(args, timeout=3600)
            path.unlink()
            Path(str(path) + ".index").unlink(missing_ok=True)
        for size in sorted(ours):
            began, got = first[size]
            shown = got["first_screen"] - began if got.get("first_screen") else None
            opened = got["loaded"] - began
            cpu_first = got.get("cpu_loaded", 0)
            began, got = ours[size]
            base, base_peak = stock.get(size, (None, 0.0))
            tag = f"{size // 1000}k exchanges"
            gave_up = f">{scale.stock_timeout:g} s" if size in stock and base is None else None
            results.append(Result(
                FIGURE, f"first screen, {tag}", "s", shown, base,
                FIRST_SCREEN_TARGET if size >= 100_000 else 1.0,
                "lower", absolute=size >= 100_000,
                baseline_text=gave_up or (None if size in stock else "not run"),
                note="must beat mitmproxy" if size < 100_000 else ""))
            results.append(Result(FIGURE, f"all loaded, first open (writes the index), {tag}",
                                  "s", opened, better="lower",
                                  note=f"{cpu_first:.1f} s of CPU"))
            results.append(Result(FIGURE, f"all loaded from the index, {tag}", "s",
                                  got["loaded"] - began,
                                  target=LOADED_TARGET if size >= 100_000 else None,
                                  better="lower", absolute=True,
                                  note=f"{got['rows']:,} rows, jobs and filters; "
                                       f"{got.get('cpu_loaded', 0):.1f} s of CPU"))
            for text, seconds in got["filters"].items():
                results.append(Result(FIGURE, f"filter '{text}', {tag}", "s", seconds,
                                      target=FILTER_TARGET if size >= 100_000 else None,
                                      better="lower", absolute=True))
            results.append(Result(FIGURE, f"peak memory, {tag}", "MB", got["peak_mb"],
                                  base_peak or None, better="lower",
                                  baseline_text=None if size in stock else "not run"))
        if scale.live_seconds:
            results.extend(_live(scale))
    return results


def _live(scale: Scale) -> list[Result]:
    say(f"figure 4: live append, {scale.live_rate}/s for {scale.live_seconds:g} s")
    _, got = _probe(["live", f"--rate={scale.live_rate}", f"--seconds={scale.live_seconds}"],
                    timeout=scale.live_seconds * 5 + 120)
    latencies = got["latencies"]
    what = f"{scale.live_rate:,}/s for {scale.live_seconds:g} s"
    note = f"{len(latencies)} keys" + (f", {got['misses']} lost" if got["misses"] else "")
    return [
        Result(FIGURE, f"live input latency p50, {what}", "s", percentile(latencies, 0.5),
               better="lower", note=note),
        Result(FIGURE, f"live input latency p99, {what}", "s", percentile(latencies, 0.99),
               target=LATENCY_TARGET, better="lower", absolute=True, note="our bar"),
        Result(FIGURE, f"live rows behind at the end, {what}", "s", got["catch_up"],
               better="lower", note=f"{got['rows']:,} of {got['sent']:,} shown"),
        Result(FIGURE, f"live memory retained per exchange, {what}", "KB",
               got["retained_per_exchange"] / 1024 if got.get("retained_per_exchange") else None,
               target=RETAINED_TARGET, better="lower", absolute=True,
               note="slope of RSS over rows after gc, first quarter to end"),
    ]
