"""The viewer on a live proxy: dspscope's ProxyRunner in a background thread
with its own event loop, with the ``Bridge`` addon (bridge.py) that hands
finished flows to the UI's inbox and pauses exchanges for intercept.

Nothing here writes to the terminal: mitmproxy's log goes to the inbox
(the UI's Log view), and a proxy that cannot start (port in use, bad TLS
files) becomes a state line in the UI, not an exit.  Controls (rules,
intercept) are called from the UI's threads and run on the proxy's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from dspscope.viewer.bridge import Bridge, LogStream, ResponseGate
from dspscope.viewer.controls import Answer, RuleInfo
from dspscope.viewer.filters import parse
from dspscope.viewer.flowstore import Spool
from dspscope.viewer.inbox import Inbox
from dspscope.viewer.sources import Source

logger = logging.getLogger(__name__)
T = TypeVar("T")
CALL_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class LiveSource(Source):
    """A ProxyRunner with ``options`` (and the Bridge) on its own thread.

    Subclasses (the demo) add work before and after the proxy starts by
    overriding ``before_proxy`` / ``after_proxy`` / ``cleanup``."""

    kind = "live"

    def __init__(self, options: Mapping[str, Any], *, title: str, sets: Sequence[str] = (),
                 verbose: bool = False) -> None:
        super().__init__()
        self.options = dict(options)
        self.title = title
        self.sets = list(sets)
        self.verbose = verbose
        self.inbox = Inbox()
        self.runner: Any = None
        self.bridge: Bridge | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        # Set by stop() from the UI thread, read by the proxy thread: a
        # viewer that quits while the proxy is still starting must not leave
        # a proxy (and mitmproxy's process-wide ctx) coming up after it.
        self._stopping = threading.Event()
        self.spool: Spool | None = None
        self.records: Spool | None = None
        self.intercept = _Intercept(self)
        self.rules = _Rules(self)

    # -------------------------------------------------------------- thread

    def start(self, inbox: Inbox) -> None:
        self.inbox = inbox
        try:
            self.spool = Spool()
            self.records = Spool()
        except OSError as exc:
            inbox.notice(f"no temporary file for the session ({exc.strerror or exc}); "
                         "exchanges stay in memory", "warning")
        self._thread = threading.Thread(target=self._run, name="dspscope-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self) -> None:
        self._stopping.set()
        loop, stop = self.loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)
        for spool in (self.spool, self.records):
            if spool is not None:
                spool.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # noqa: BLE001 - shown in the UI, the viewer stays
            self.inbox.state(f"proxy thread failed: {exc!r}", "error")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        from dspscope.addons import chain
        from dspscope.addons.runner import ProxyRunner, StartupError
        from dspscope.addons.track import Track

        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stopping.is_set():  # stop() came before the loop was there to tell
            self._stop.set()
        self._ready.set()
        try:
            try:
                await self.before_proxy()
            except Exception as exc:  # noqa: BLE001 - e.g. the simulated server cannot listen
                self._failed(str(exc))
                await self._stop.wait()
                return
            if self._stop.is_set():
                return  # stopped while the server was starting: no proxy after all
            self.bridge = Bridge(self.inbox, self.spool, self.records)
            addons = chain.build()  # its headless printer stays off (below)
            at = next((i for i, a in enumerate(addons) if isinstance(a, Track)), len(addons) - 1)
            addons.insert(at + 1, self.bridge)
            addons.insert(at, ResponseGate(self.bridge))  # responses pause before Track records them
            options = {**self.options, "dspscope_headless": False}
            self.runner = ProxyRunner(options, addons=addons, sets=self.sets,
                                      log_level=logging.INFO if self.verbose else logging.WARNING,
                                      log_out=LogStream(self.inbox))  # type: ignore[arg-type]
            try:
                await self.runner.start()
            except StartupError as exc:
                self.runner = None
                self._failed(str(exc))
                await self._stop.wait()
                return
            self.inbox.state(self.describe(), "ok")
            self.inbox.log("info", self.describe())
            try:
                await self.after_proxy()
            except Exception as exc:  # noqa: BLE001
                self.inbox.notice(f"{exc}", "error")
            await self._stop.wait()
        finally:
            await self._shutdown()

    def _failed(self, reason: str) -> None:
        self.inbox.state(f"proxy not running: {reason}", "error")
        self.inbox.notice(f"The proxy could not start: {reason}", "error")

    async def _shutdown(self) -> None:
        if self.bridge is not None:
            self.bridge.forward_all()
        try:
            await asyncio.wait_for(self.cleanup(), STOP_TIMEOUT / 2)
        except Exception:  # noqa: BLE001 - stopping anyway
            logger.debug("cleanup failed", exc_info=True)
        if self.runner is not None:
            try:
                await asyncio.wait_for(self.runner.stop(), STOP_TIMEOUT / 2)
            except Exception:  # noqa: BLE001
                logger.debug("proxy stop failed", exc_info=True)

    # ------------------------------------------------------------- hooks

    async def before_proxy(self) -> None:
        """Before the proxy starts (the demo starts its server here)."""

    async def after_proxy(self) -> None:
        """Once the proxy listens (the demo starts its device here)."""

    async def cleanup(self) -> None:
        """Stop what before/after_proxy started."""

    def describe(self) -> str:
        runner = self.runner
        if runner is None:
            return "proxy not running"
        modes = self.options.get("mode") or []
        where = ", ".join(f"{h}:{p}" for h, p in runner.addrs_of(modes[0])) if modes else ""
        text = f"proxy listening on {where or '?'}"
        if modes and str(modes[0]).startswith("reverse:"):
            text += f" → {str(modes[0])[len('reverse:'):]}"
        return text

    # ---------------------------------------------------- calls to the loop

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the proxy's loop and wait for its result."""
        loop = self.loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the proxy is not running")

        async def run() -> T:
            return fn()

        future = asyncio.run_coroutine_threadsafe(run(), loop)
        return future.result(timeout=CALL_TIMEOUT)

    def post(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the proxy's loop, not waiting."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


class _Intercept:
    def __init__(self, source: LiveSource) -> None:
        self.source = source

    def set_filter(self, text: str | None) -> None:
        bridge = self.source.bridge
        if bridge is not None:
            bridge.query = None if text is None else parse(text)

    def forward(self, exchange_id: str, content: bytes | None = None) -> None:
        bridge = self.source.bridge
        if bridge is not None:
            self.source.post(lambda: bridge.forward(exchange_id, content))

    def answer(self, exchange_id: str, answer: Answer) -> None:
        bridge = self.source.bridge
        if bridge is not None:
            self.source.post(lambda: bridge.answer(exchange_id, answer))

    def forward_all(self) -> int:
        bridge = self.source.bridge
        return 0 if bridge is None else self.source.call(bridge.forward_all)


class _Rules:
    """The rules addon (addons.applyrules), called on the proxy's loop."""

    def __init__(self, source: LiveSource) -> None:
        self.source = source

    def _addon(self) -> Any:
        runner = self.source.runner
        addon = runner.addon("dspscope_rules") if runner is not None else None
        if addon is None:
            raise RuntimeError("no rules: the proxy is not running")
        return addon

    def status(self) -> list[RuleInfo]:
        addon = self._addon()
        found = self.source.call(addon.rule_list)
        return [RuleInfo(s.name, s.enabled, s.hits, s.description) for s in found]

    def set_enabled(self, name: str, enabled: bool) -> str | None:
        addon = self._addon()
        if not self.source.call(lambda: addon.set_enabled(name, enabled)):
            return f"no rule {name!r}"
        return f"Rule {name} {'on' if enabled else 'off'}."

    def reload(self) -> str | None:
        addon = self._addon()
        errors = self.source.call(addon.reload)
        if errors:
            return "Rules reloaded with errors: " + "; ".join(errors.values())
        return "Rules reloaded."

    def presets(self) -> list[tuple[str, str]]:
        from dspscope import rules

        return [(p.name, p.summary) for p in rules.list_presets()]

    def load_preset(self, name: str) -> str | None:
        addon = self._addon()
        self.source.call(lambda: addon.load_preset(name))
        return f"Preset {name} loaded."
