"""The dspscope viewer, driven headless by Textual's pilot, in a process of
its own (so that its memory is its own); prints one JSON object.

    python -m tests.bench.viewer_probe open CAPTURE --filter "op:SendImage" ...
    python -m tests.bench.viewer_probe live --rate 1000 --seconds 60

``open``: epoch time of the first screen showing exchanges, of the whole
capture loaded, each filter's time (Enter to the list showing the result)
and the process's peak RSS.  ``live``: exchanges arrive at ``rate`` per
second from another thread (as the proxy thread delivers them in
``dspscope tui``), while the pilot presses a key every ``--every`` seconds
and measures how long until the list's cursor shows it.
"""

from __future__ import annotations

import time

STARTED = time.time()  # before the heavy imports: they are part of the user's wait

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

SIZE = (160, 48)


def _peak_mb() -> float:
    import os

    from tests.bench.common import status_kb

    return (status_kb(os.getpid(), "VmHWM") or 0) / 1024


def _rss_bytes() -> float:
    import os

    from tests.bench.common import status_kb

    return (status_kb(os.getpid(), "VmRSS") or 0) * 1024.0


def _screen_text(app: Any) -> str:
    strips = app.screen._compositor.render_strips()  # noqa: SLF001 - what the terminal shows
    return "\n".join(strip.text for strip in strips)


async def _until(condition: Any, timeout: float, step: float = 0.005) -> bool:
    """Poll ``condition`` while the app's loop runs (not ``pilot.pause``: it
    waits for the whole process to go idle, which a loading thread never
    lets happen, and forces a repaint each time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def _key(app: Any, key: str, char: str | None = None) -> None:
    """A key press as the terminal driver delivers it, without the pilot's
    waiting for idle (which would be part of what is measured)."""
    from textual import events

    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)  # noqa: SLF001


async def _filter(app: Any, text: str) -> float:
    """Seconds from Enter in the filter bar to the list showing the result."""
    store = app.session.store
    main = app.main
    bar = main.query_one("#filter-input")
    _key(app, "slash", "/")
    await _until(lambda: bar.has_focus, 10)
    bar.value = text
    await asyncio.sleep(0.3)  # past the filter-as-you-type debounce: Enter is what is timed
    await _until(lambda: store.query.text == text and not main.status_bar.loading, 120)
    bar.value = ""
    await asyncio.sleep(0.3)  # benchmark pacing: past the debounce again before the next figure
    await _until(lambda: store.query.text == "" and not main.status_bar.loading, 120)
    bar.value = text
    began = time.perf_counter()
    _key(app, "enter", "\r")
    await _until(lambda: store.query.text == text and not main.status_bar.loading, 120,
                 step=0.001)
    return time.perf_counter() - began


async def open_capture(path: str, filters: list[str], timeout: float) -> dict[str, Any]:
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.sources import CaptureSource

    out: dict[str, Any] = {"started": STARTED}
    app = DspscopeApp(CaptureSource([path]))
    async with app.run_test(size=SIZE) as pilot:
        shown = await _until(lambda: len(app.session.store.view) > 0
                             and "SendImage" in _screen_text(app), timeout, step=0.02)
        out["first_screen"] = time.time() if shown else None
        await _until(lambda: _loaded(app), timeout, step=0.05)
        out["loaded"] = time.time()
        out["cpu_loaded"] = time.process_time()  # the viewer's own CPU, imports included
        out["rows"] = len(app.session.store.rows)
        out["filters"] = {text: await _filter(app, text) for text in filters}
        out["shown"] = len(app.session.store.view)
        out["peak_mb"] = _peak_mb()
        await pilot.press("q")
    return out


def _pending(app: Any) -> int:
    """Exchanges delivered to the inbox that the UI has not applied yet."""
    batches = getattr(app.inbox, "_batches", ())  # the viewer has no public count
    return sum(len(batch.items) for batch in list(batches))


def _loaded(app: Any) -> bool:
    source = app.source
    thread = getattr(source, "_thread", None)
    return (thread is not None and not thread.is_alive() and _pending(app) == 0
            and not app.main.status_bar.loading)


SAMPLE_EVERY = 2.0  # s between memory samples of a live run


def _sample(app: Any) -> tuple[int, float]:
    """(rows, RSS) with the garbage of the moment collected: what is retained."""
    import gc

    gc.collect()
    return len(app.session.store), _rss_bytes()


def _slope(samples: list[tuple[int, float]]) -> float | None:
    """Bytes per row: the least-squares slope of RSS over rows, from the
    first quarter of the run (the message-id tables full, the UI warm) to
    its end, so that steady growth is what is measured, not one sample."""
    if len(samples) < 2:
        return None
    n = len(samples)
    mean_x = sum(x for x, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    spread = sum((x - mean_x) ** 2 for x, _ in samples)
    if not spread:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in samples) / spread


class _Feed:
    """Another thread delivering ``rate`` exchanges a second through the
    live proxy's bridge (flows and records spooled to disk, one batch per
    exchange), as ``dspscope tui`` does."""

    def __init__(self, rate: int, seconds: float) -> None:
        self.rate = rate
        self.seconds = seconds
        self.sent = 0
        self.done = threading.Event()

    def start(self, inbox: Any) -> None:
        threading.Thread(target=self._run, args=(inbox,), daemon=True, name="feed").start()

    def _run(self, inbox: Any) -> None:
        from mitmproxy import http
        from mitmproxy.io import tnetstring

        from dspscope.viewer.bridge import Bridge
        from dspscope.viewer.flowstore import Spool
        from tests.bench.capture_gen import exchanges

        total = int(self.rate * self.seconds)
        # What dspscope tui's proxy thread does with each finished flow.
        bridge = Bridge(inbox, Spool(), Spool())
        began = time.monotonic()
        for chunk in exchanges(total):
            flow = http.HTTPFlow.from_state(tnetstring.loads(chunk))
            bridge.response(flow)
            self.sent += 1
            due = began + self.sent / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # benchmark pacing: the feed's rate
        self.done.set()


async def live(rate: int, seconds: float, every: float) -> dict[str, Any]:
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.sources import Source

    feed = _Feed(rate, seconds)

    class FeedSource(Source):
        kind = "live"
        title = f"benchmark feed, {rate}/s"

        def start(self, inbox: Any) -> None:
            feed.start(inbox)

    app = DspscopeApp(FeedSource())
    latencies: list[float] = []
    misses = 0
    async with app.run_test(size=SIZE) as pilot:
        lister = app.main.exchanges
        await _until(lambda: lister.count > 200, 60)
        began = time.monotonic()
        samples: list[tuple[int, float]] = []  # (rows, RSS) from the first quarter on
        sampled = 0.0
        while not feed.done.is_set():
            if feed.sent >= rate * seconds / 4 and time.monotonic() - sampled >= SAMPLE_EVERY:
                samples.append(_sample(app))
                sampled = time.monotonic()
            wanted = lister.cursor - 1
            start = time.perf_counter()
            _key(app, "up")
            if await _until(lambda w=wanted: lister.cursor == w, 10, step=0.001):
                latencies.append(time.perf_counter() - start)
            else:
                misses += 1
            await asyncio.sleep(max(0.0, every - (time.perf_counter() - start)))  # benchmark pacing: probe period
        fed = time.monotonic()
        await _until(lambda: _pending(app) == 0 and len(app.session.store) >= feed.sent,
                     60, step=0.01)
        caught_up = time.monotonic()
        samples.append(_sample(app))
        out = {"retained_per_exchange": _slope(samples), "samples": len(samples),
               "sent": feed.sent, "rows": len(app.session.store), "seconds": fed - began,
               "catch_up": caught_up - fed, "latencies": latencies, "misses": misses,
               "peak_mb": _peak_mb()}
        await pilot.press("q")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.viewer_probe")
    sub = parser.add_subparsers(dest="what", required=True)
    opened = sub.add_parser("open")
    opened.add_argument("capture")
    opened.add_argument("--filter", action="append", default=[])
    opened.add_argument("--timeout", type=float, default=1800)
    feeding = sub.add_parser("live")
    feeding.add_argument("--rate", type=int, default=1000)
    feeding.add_argument("--seconds", type=float, default=60)
    feeding.add_argument("--every", type=float, default=0.25)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    if args.what == "open":
        result = asyncio.run(open_capture(args.capture, args.filter, args.timeout))
    else:
        result = asyncio.run(live(args.rate, args.seconds, args.every))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
