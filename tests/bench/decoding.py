"""Figure 2: decode throughput per message type against raw
``lxml.etree.fromstring`` on the same bytes.  The target (0.5 x) is for
the typical CreatePostScanJobRequest; the other types are shown for
comparison (an MTOM upload's decode also hashes its image, which lxml
never sees).  The measurement itself is
``tests.bench.bench_decode`` (its corpus and alternating rounds); this
module only turns its rows into lines of the suite's table."""

from __future__ import annotations

from dataclasses import dataclass

from tests.bench import bench_decode
from tests.bench.common import Result, say

FIGURE = "2 decode"


@dataclass(frozen=True)
class Scale:
    seconds: float = 2.0  # per message type, both sides together
    only: tuple[str, ...] = ()


FULL = Scale()
QUICK = Scale(seconds=0.4)
SMOKE = Scale(seconds=0.05, only=("CreatePostScanJobRequest", "SendImageRequest"))


def run(scale: Scale = FULL) -> list[Result]:
    say("figure 2: decode vs raw lxml")
    rows = bench_decode.run(scale.seconds, scale.only)
    return [
        Result(FIGURE, row.case.name, "msg/s", row.ours, row.baseline,
               bench_decode.TARGET if row.case.name == bench_decode.TYPICAL else None, "higher", note=f"{len(row.case.content):,} B; first sight of its shape "
               f"{row.first_sight / row.baseline if row.baseline else 0:.2f} x")
        for row in rows
    ]
