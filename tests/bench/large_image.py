"""Figure 3: one 200 MB multi-page TIFF SendImage through the proxy.  Wall
time of the SendImage (as the device sees it) and peak RSS (VmHWM) of the
proxy process, dspscope proxy against plain mitmdump; each round starts
fresh proxy processes, so the peak is this image's."""

from __future__ import annotations

import asyncio
import io
import os
from dataclasses import dataclass

from tests.bench.common import Children, Result, say, scratch, status_kb
from tests.bench.load import Devices
from tests.bench.stack import PROXIES, Endpoint, start_proxy, start_server

FIGURE = "3 large image"
TIME_TARGET = 1.2
RSS_TARGET = 1.5


@dataclass(frozen=True)
class Scale:
    megabytes: int = 200
    rounds: int = 2


FULL = Scale()
QUICK = Scale(megabytes=40, rounds=1)
SMOKE = Scale(megabytes=4, rounds=1)


def tiff(megabytes: int) -> bytes:
    """A real multi-page TIFF of about ``megabytes`` MB: uncompressed 8-bit
    pages (a colour-less 600 dpi scan is ~34 MB a page) of noise."""
    from PIL import Image

    width, height = 5100, 6600
    page_bytes = width * height
    pages = max(1, round(megabytes * 1_000_000 / page_bytes))
    if megabytes * 1_000_000 < page_bytes:
        height = max(16, megabytes * 1_000_000 // width)
        pages = 1
    noise = os.urandom(width * height)
    first = Image.frombytes("L", (width, height), noise)
    rest = [first.transpose(Image.Transpose.ROTATE_180) for _ in range(pages - 1)]
    out = io.BytesIO()
    first.save(out, "TIFF", save_all=True, append_images=rest)
    return out.getvalue()


@dataclass
class Sample:
    seconds: float
    peak_mb: float
    idle_mb: float


async def _send(proxy: Endpoint, image: bytes) -> float:
    async with Devices(proxy.url, 1, images_per_job=1, image=image,
                       sink_port=proxy.sink_port, notify_origin=proxy.notify_origin) as device:
        timings = await device.job()
    return timings["SendImage"] / 1000


def run(scale: Scale = FULL) -> list[Result]:
    say(f"figure 3: making a {scale.megabytes} MB TIFF")
    image = tiff(scale.megabytes)
    samples: dict[str, list[Sample]] = {name: [] for name in PROXIES}
    with Children() as children, scratch("large") as work:
        server = start_server(children, work, tls=False)
        for index in range(scale.rounds):
            order = PROXIES if index % 2 == 0 else tuple(reversed(PROXIES))
            for name in order:
                say(f"figure 3: {len(image) / 1e6:.0f} MB SendImage through {name}, round {index + 1}")
                proxy = start_proxy(children, name, server.url, work)
                try:
                    idle = (status_kb(proxy.pid, "VmRSS") or 0) / 1024
                    seconds = asyncio.run(_send(proxy, image))
                    peak = (status_kb(proxy.pid, "VmHWM") or 0) / 1024
                finally:
                    children.stop(proxy.proc)  # type: ignore[arg-type]
                    for path in work.glob(f"{name}-{proxy.port}*"):
                        path.unlink(missing_ok=True)
                samples[name].append(Sample(seconds, peak, idle))
    ours, base = samples["dspscope"], samples["mitmdump"]
    size = f"{len(image) / 1e6:.0f} MB"
    return [
        Result(FIGURE, f"SendImage wall time, {size}", "s", min(s.seconds for s in ours),
               min(s.seconds for s in base), TIME_TARGET, "lower", note="best of rounds"),
        Result(FIGURE, f"proxy peak RSS, {size}", "MB", max(s.peak_mb for s in ours),
               max(s.peak_mb for s in base), RSS_TARGET, "lower",
               note=f"idle {ours[0].idle_mb:.0f} vs {base[0].idle_mb:.0f} MB"),
    ]
