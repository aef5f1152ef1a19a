"""The dspscope benchmark suite: every figure, side by side with its
baseline, in one run and one table.

    python -m tests.bench                 # everything at the issue's sizes (~30 min)
    python -m tests.bench --quick         # the same at small sizes (a few minutes)
    python -m tests.bench --only 2 3      # some figures
    python -m tests.bench --json out.json

Figures:
  1  proxy overhead: throughput, p50/p99 latency, CPU per request of
     dspscope proxy vs mitmdump -w (and plain mitmdump); small exchanges
     with 8 devices, 1 MB uploads with 4
  2  decode vs raw lxml, per message type
  3  one 200 MB multi-page TIFF SendImage: wall time and proxy peak RSS
  4  viewer at scale: first screen, fully loaded (first open, then from
     the index), filter, memory at 1k/10k/100k vs stock mitmproxy -nr at
     1k/10k; live append at 1,000 exchanges/s and memory per exchange
  5  soak: RSS growth while carrying 200,000 exchanges
  6  reading: dspscope check (with the capture's index) vs mitmdump -nr

Everything runs on 127.0.0.1 with ephemeral ports; child processes are
stopped when a figure ends, however it ends.  Progress goes to stderr, the
table to stdout.  Nothing here asserts on times: the table says which
targets were met on this machine, this time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from tests.bench import common, decoding, large_image, overhead, reading, soak, viewer_scale

#: figure number -> (module, full scale, quick scale)
FIGURES: dict[str, tuple[Callable[[Any], list[common.Result]], Any, Any]] = {
    "1": (overhead.run, overhead.FULL, overhead.QUICK),
    "2": (decoding.run, decoding.FULL, decoding.QUICK),
    "3": (large_image.run, large_image.FULL, large_image.QUICK),
    "4": (viewer_scale.run, viewer_scale.FULL, viewer_scale.QUICK),
    "5": (soak.run, soak.FULL, soak.QUICK),
    "6": (reading.run, reading.FULL, reading.QUICK),
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split("\n\n")[0],
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: a smoke of every figure in a few minutes")
    parser.add_argument("--only", nargs="+", choices=sorted(FIGURES), metavar="N",
                        help="run only these figures (1-6)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = args.only or sorted(FIGURES)
    facts = common.machine()
    results: list[common.Result] = []
    failed: list[str] = []
    began = time.monotonic()
    for number in chosen:
        run, full, quick = FIGURES[number]
        try:
            results.extend(run(quick if args.quick else full))
        except Exception:  # noqa: BLE001 - one broken figure must not lose the others
            failed.append(number)
            common.say(f"figure {number} failed:\n{traceback.format_exc()}")
    scale = "quick sizes (--quick)" if args.quick else "full sizes"
    print("\n".join(facts))
    print(f"run: {scale}, figures {' '.join(chosen)}, {time.monotonic() - began:.0f} s; "
          f"command: python -m tests.bench {' '.join(argv if argv is not None else sys.argv[1:])}")
    print()
    print("\n".join(common.table(results)))
    if failed:
        print(f"\nfigures that failed (see stderr): {' '.join(failed)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"machine": facts, "quick": args.quick, "failed": failed,
                       "results": [_plain(r) for r in results]}, fh, indent=1)
    return 1 if failed else 0


def _plain(result: common.Result) -> dict[str, Any]:
    return {"figure": result.figure, "name": result.name, "unit": result.unit,
            "ours": result.ours, "baseline": result.baseline, "ratio": result.ratio,
            "target": result.target_text, "met": result.met, "note": result.note,
            "baseline_text": result.baseline_text}


if __name__ == "__main__":
    sys.exit(main())
