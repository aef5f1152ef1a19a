"""Figure 6: reading a capture.  ``dspscope check`` on a capture with its
index (what ``dspscope proxy --save`` writes beside it) against stock
``mitmdump -nr`` on the same file; beside them, check without the index and
the time ``dspscope index`` takes to build one for a capture that has none.

The capture is the generator's (``capture_gen``: jobs with the proxy's own
metadata, as the proxy writes them); each program runs as a process of its
own, imports included, in interleaved rounds."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench import capture_gen
from tests.bench.common import BIN, ROOT, Result, say, scratch

FIGURE = "6 reading"
CHECK_TARGET = 0.25  # of mitmdump -nr's time


@dataclass(frozen=True)
class Scale:
    exchanges: int = 20_000
    rounds: int = 2


FULL = Scale()
QUICK = Scale(exchanges=3_000, rounds=1)
SMOKE = Scale(exchanges=300, rounds=1)


def _timed(args: list[str]) -> float:
    began = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=3600)
    if proc.returncode not in (0, 1):  # check exits 1 on error findings
        raise RuntimeError(f"{args[:4]} exited {proc.returncode}: {proc.stderr[-500:]!r}")
    return time.monotonic() - began


def run(scale: Scale = FULL) -> list[Result]:
    dspscope = [sys.executable, "-m", "dspscope"]
    with scratch("reading") as work:
        path = work / "capture.mitm"
        say(f"figure 6: writing a capture of {scale.exchanges:,} exchanges")
        capture_gen.write(path, scale.exchanges)
        index = Path(str(path) + ".index")
        times: dict[str, list[float]] = {"stock": [], "check": [], "raw": [], "index": []}
        for round_ in range(scale.rounds):
            say(f"figure 6: round {round_ + 1}: dspscope index, check, check --no-index, "
                "mitmdump -nr")
            index.unlink(missing_ok=True)
            times["index"].append(_timed([*dspscope, "index", "--no-progress", str(path)]))
            times["check"].append(_timed([*dspscope, "check", "--no-progress", str(path)]))
            times["raw"].append(_timed([*dspscope, "check", "--no-progress", "--no-index",
                                        str(path)]))
            times["stock"].append(_timed([str(BIN / "mitmdump"), "-nr", str(path), "-q"]))
    best = {name: min(values) for name, values in times.items()}
    tag = f"{scale.exchanges // 1000}k exchanges"
    return [
        Result(FIGURE, f"dspscope check with the index vs mitmdump -nr, {tag}", "s",
               best["check"], best["stock"], CHECK_TARGET, "lower"),
        Result(FIGURE, f"dspscope check --no-index vs mitmdump -nr, {tag}", "s",
               best["raw"], best["stock"], better="lower"),
        Result(FIGURE, f"dspscope index (once, for a capture without one), {tag}", "s",
               best["index"], best["stock"], better="lower"),
    ]
