"""Run a mitmproxy proxy with the dspscope addons inside another program.

mitmproxy's own masters are made for its command-line tools: a startup error
(a busy port, a bad option) prints a message and exits the process.  A
``ProxyRunner`` raises ``StartupError`` instead, closes its listening sockets
when stopped, and can be started and stopped from any asyncio program (the
``dspscope proxy`` command, the viewer, tests):

    runner = ProxyRunner({"mode": ["reverse:https://server:5362"], "listen_port": 5362})
    await runner.start()          # raises StartupError
    ...                           # runner.listen_addrs, runner.track.tracker
    await runner.stop()           # captures flushed and closed, sockets closed

mitmproxy keeps one master per process (``mitmproxy.ctx``): run one
ProxyRunner at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

from mitmproxy import addons as mitm_addons
from mitmproxy import exceptions, log, master, options
from mitmproxy.proxy import mode_specs

from dspscope.addons import chain, dispatch
from dspscope.addons.track import Track

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """The proxy could not start; the message is one line for the user.
    ``address`` and ``errno`` say which listener failed, when one did."""

    def __init__(self, message: str, *, address: tuple[str, int] | None = None,
                 errno: int | None = None) -> None:
        super().__init__(message)
        self.address = address
        self.errno = errno


def first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


class _ErrorRecords(log.MitmLogHandler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)  # type: ignore[no-untyped-call]
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _StartupCheck:
    """Stands in for mitmproxy's ``errorcheck`` addon, which the master asks
    at each step of startup: an error logged so far raises StartupError
    instead of exiting the process."""

    name = "errorcheck"

    def __init__(self) -> None:
        self.errors = _ErrorRecords()
        self.errors.install()
        self.started = asyncio.Event()

    async def shutdown_if_errored(self) -> None:
        await asyncio.sleep(0)  # let pending log records arrive
        if self.errors.records:
            self.finish()
            raise StartupError(first_line(self.errors.records[0].getMessage()))

    def finish(self) -> None:
        self.errors.uninstall()
        self.started.set()


class _Printer(log.MitmLogHandler):
    """Log records on a stream, one line each; errors only once started
    (before that they become the StartupError)."""

    def __init__(self, out: IO[str], level: int) -> None:
        # ALERT (info a user must see, e.g. rule files reloaded) always shows
        super().__init__(min(level, log.ALERT))  # type: ignore[no-untyped-call]
        self.wanted = level
        self.out = out
        self.started = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < self.wanted and record.levelno != log.ALERT:
            return
        if record.levelno >= logging.ERROR and not self.started:
            return
        label = {logging.WARNING: "warning: ", logging.ERROR: "error: "}.get(record.levelno, "")
        try:
            self.out.write(f"{label}{first_line(record.getMessage())}\n")
            self.out.flush()
        except (OSError, ValueError):
            pass


class ProxyRunner:
    """One in-process proxy: mitmproxy's default addons plus ``addons``
    (default: the full dspscope chain), configured with ``options`` and
    then ``sets`` ("name=value" strings, as mitmdump's ``--set`` takes them).
    Log records of ``log_level`` and above go to ``log_out`` (standard
    error by default) once started; ``log_level=None`` prints nothing (a
    full-screen program embedding the proxy)."""

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        addons: Sequence[object] | None = None,
        sets: Sequence[str] = (),
        log_level: int | None = logging.WARNING,
        log_out: IO[str] | None = None,
    ) -> None:
        self.options = dict(options or {})
        self.addons = list(addons) if addons is not None else chain.build()
        self.sets = list(sets)
        self.log_level = log_level
        self.log_out = log_out
        self.master: master.Master | None = None
        self._task: asyncio.Task[None] | None = None
        self._printer: _Printer | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen and serve; returns once the proxy is up."""
        if self._task is not None:
            raise RuntimeError("this ProxyRunner was already started")
        if self.log_level is not None:
            root = logging.getLogger()
            if root.getEffectiveLevel() > min(self.log_level, log.ALERT):
                root.setLevel(min(self.log_level, log.ALERT))
            self._printer = _Printer(self.log_out or sys.stderr, self.log_level)
            self._printer.install()
        check = _StartupCheck()
        opts = options.Options()
        self.master = master.Master(opts, event_loop=asyncio.get_running_loop())
        dispatch.install(self.master)  # the same addons, each event's hooks looked up once
        try:
            self.master.addons.add(*mitm_addons.default_addons())
            self.master.addons.add(check, *self.addons)
            opts.update(**self.options)
            if self.sets:
                opts.set(*self.sets)
        except (exceptions.OptionsError, exceptions.AddonManagerError, KeyError, TypeError) as exc:
            check.finish()
            self._unprint()
            raise StartupError(first_line(str(exc).strip("'\""))) from None
        self._task = asyncio.create_task(self.master.run(), name="dspscope proxy")
        started = asyncio.create_task(check.started.wait())
        await asyncio.wait({self._task, started}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if self._task.done():
            failed = self._listen_failure()
            await self._close_listeners()
            self._unprint()
            error = self._task.exception()
            if failed is not None:
                raise failed
            if isinstance(error, StartupError):
                raise error
            raise StartupError(first_line(repr(error)) if error else "the proxy stopped while starting")
        if self._printer is not None:
            self._printer.started = True

    async def stop(self) -> None:
        """Stop listening, finish the addons (captures are flushed and
        closed) and wait for the master to end.  Safe to call twice."""
        if self._task is None or self.master is None:
            return
        await self._close_listeners()
        await self._close_connections()
        self.master.shutdown()
        try:
            await self._task
        finally:
            self._unprint()

    def _unprint(self) -> None:
        if self._printer is not None:
            self._printer.uninstall()
            self._printer = None

    async def wait(self) -> None:
        """Until the proxy stops (by ``stop`` or from inside)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def __aenter__(self) -> ProxyRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _close_listeners(self) -> None:
        server = self.master.addons.get("proxyserver") if self.master else None
        if server is None:
            return
        for instance in list(server.servers):
            if instance.is_running:
                try:
                    await instance.stop()
                except Exception as exc:  # noqa: BLE001 - keep closing the others
                    logger.debug("closing %s: %r", instance.mode.full_spec, exc)

    def _listen_failure(self) -> StartupError | None:
        server = self.master.addons.get("proxyserver") if self.master else None
        for instance in server.servers if server is not None else ():
            exc = instance.last_exception
            if isinstance(exc, OSError):
                opts = self.master.options if self.master else None
                host = instance.mode.listen_host(opts.listen_host if opts else "") or "*"
                port = instance.mode.listen_port(opts.listen_port if opts else None) or 0
                cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
                reason = os.strerror(cause.errno) if cause.errno else str(cause)
                return StartupError(f"cannot listen on {host}:{port}: {reason.lower()}",
                                    address=(host, port), errno=cause.errno)
        return None

    async def _close_connections(self, timeout: float = 2.0) -> None:
        """Close the connections still open (keep-alive ones, mostly), so no
        handler is left to be cancelled when the event loop ends.  Exchanges
        cut short are written as they are by the capture addons."""
        server = self.master.addons.get("proxyserver") if self.master else None
        if server is None:
            return
        for handler in list(server.connections.values()):
            try:
                handler.close_connection(handler.client)
            except Exception as exc:  # noqa: BLE001 - still connecting; it ends by itself
                logger.debug("closing a connection: %r", exc)
        deadline = asyncio.get_running_loop().time() + timeout
        while server.connections and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)

    # -------------------------------------------------------------- queries

    @property
    def listen_addrs(self) -> list[tuple[str, int]]:
        """(host, port) of each listening socket, in mode order."""
        server = self.master.addons.get("proxyserver") if self.master else None
        if server is None:
            return []
        return [(str(a[0]), int(a[1])) for i in server.servers for a in i.listen_addrs]

    def addrs_of(self, mode: str) -> list[tuple[str, int]]:
        """Listening addresses of the server started for ``mode`` (a spec
        exactly as given in the ``mode`` option)."""
        server = self.master.addons.get("proxyserver") if self.master else None
        if server is None:
            return []
        wanted = mode_specs.ProxyMode.parse(mode)
        for instance in server.servers:
            if instance.mode == wanted:
                return [(str(a[0]), int(a[1])) for a in instance.listen_addrs]
        return []

    def addon(self, name: str) -> Any:
        return self.master.addons.get(name) if self.master else None

    @property
    def track(self) -> Track | None:
        found = self.addon(Track.name)
        return found if isinstance(found, Track) else None
