"""``dspscope demo``: a simulated scan server, the proxy in front of it and a
simulated device running jobs in a loop, all in the viewer's process.

Everything listens on 127.0.0.1 on free ports and speaks plain HTTP (no
certificates to trust).  The busy-server preset is loaded with its rules
switched off: switch one on in the Rules view and watch the device cope.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from dspscope.viewer.live import LiveSource

HOST = "127.0.0.1"
PRESET = "busy-server"


def demo_options(server_url: str, events_port: int, confdir: str) -> dict[str, Any]:
    """Proxy options: reverse mode to the server, events relayed on a
    second listener, the demo preset loaded."""
    from dspscope import rules
    from dspscope.addons.events import EVENTS_TARGET

    return {
        "mode": [f"reverse:{server_url}", f"reverse:{EVENTS_TARGET}@{events_port}"],
        "listen_host": HOST,
        "listen_port": 0,
        "connection_strategy": "lazy",
        "dspscope_events": f"{HOST}:{events_port}",
        "dspscope_rules": [str(rules.find_preset(PRESET).path)],
        "confdir": confdir,
    }


class DemoSource(LiveSource):
    kind = "demo"

    def __init__(self, *, jobs_in_parallel: int = 2, images: int = 3, pause: float = 1.5,
                 image_size: int = 40_000, verbose: bool = False) -> None:
        super().__init__({}, title="demo: simulated device → proxy → simulated scan server",
                         verbose=verbose)
        self.concurrency = jobs_in_parallel
        self.images = images
        self.pause = pause
        self.image_size = image_size
        self.server: Any = None
        self.device: Any = None
        self._device_task: asyncio.Task[Any] | None = None

    async def before_proxy(self) -> None:
        from dspscope.local import config_dir, free_port
        from dspscope.sim.server import ScanServer

        self.server = ScanServer(HOST, 0, tls_on=False,
                                 log=lambda line: self.inbox.log("info", f"server: {line}"))
        await self.server.start()
        origin = f"http://{HOST}:{self.server.port}"
        confdir = config_dir() / "mitmproxy"
        confdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.options = demo_options(origin, free_port(HOST), str(confdir))
        self.inbox.log("info", f"simulated scan server on {origin}")

    async def after_proxy(self) -> None:
        from dspscope.sim.device import SimulatedDevice
        from dspscope.sim.results import DeviceOptions
        from dspscope.sim.server import BASE_PATH

        addon = self.runner.addon("dspscope_rules") if self.runner is not None else None
        if addon is not None:
            for status in addon.rule_list():
                addon.set_enabled(status.name, False)
        port = self.runner.addrs_of(self.options["mode"][0])[0][1]
        options = DeviceOptions(
            server=f"http://{HOST}:{port}{BASE_PATH}", loop=True, pause=self.pause,
            concurrency=self.concurrency, images=self.images, image_size=self.image_size,
            subscribe=True, sink_host=HOST, seed=7)
        self.device = SimulatedDevice(options, on_progress=self._progress)
        self._device_task = asyncio.create_task(self._run_device())

    def _progress(self, what: str, result: Any) -> None:
        if what == "finished" and not result.ok:
            self.inbox.log("warning", f"device: job {result.index} {what}: "
                                      f"{result.error or result.final_state}")

    async def _run_device(self) -> None:
        try:
            await self.device.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the UI says why the device stopped
            self.inbox.notice(f"simulated device stopped: {exc}", "error")

    async def cleanup(self) -> None:
        if self.device is not None:
            self.device.stop()
        if self._device_task is not None:
            self._device_task.cancel()
            with contextlib.suppress(BaseException):
                await self._device_task
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.stop()

    def describe(self) -> str:
        text = super().describe()
        if self.server is not None:
            text = text.replace(f"http://{HOST}:{self.server.port}", "simulated server")
        return text


class ScanDemoSource(LiveSource):
    """``dspscope demo --wsscan``: the pull side of the family.  A simulated
    WSD scanner, the proxy in front of it and a simulated WS-Scan client
    scanning from the platen, the feeder and both sides of the feeder in
    turn (what sane-airscan or Windows would do)."""

    kind = "demo"

    def __init__(self, *, pause: float = 2.0, verbose: bool = False) -> None:
        super().__init__({}, title="demo: simulated WS-Scan client → proxy → simulated scanner",
                         verbose=verbose)
        self.pause = pause
        self.scanner: Any = None
        self.client: Any = None
        self._client_task: asyncio.Task[Any] | None = None

    async def before_proxy(self) -> None:
        from dspscope.local import config_dir
        from dspscope.sim.scanner import SimulatedScanner

        self.scanner = SimulatedScanner(HOST, 0, tls_on=False,
                                        log=lambda line: self.inbox.log("info", f"scanner: {line}"))
        await self.scanner.start()
        origin = f"http://{HOST}:{self.scanner.port}"
        confdir = config_dir() / "mitmproxy"
        confdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.options = {"mode": [f"reverse:{origin}"], "listen_host": HOST, "listen_port": 0,
                        "connection_strategy": "lazy", "confdir": str(confdir)}
        self.inbox.log("info", f"simulated WSD scanner on {origin}")

    async def after_proxy(self) -> None:
        from dspscope.sim.scanner import PATH
        from dspscope.sim.scanner.client import ScanClient

        port = self.runner.addrs_of(self.options["mode"][0])[0][1]
        self.client = ScanClient(f"http://{HOST}:{port}{PATH}", pause=self.pause,
                                 report=lambda line: self.inbox.log("warning", f"client: {line}"))
        self._client_task = asyncio.create_task(self._run_client())

    async def _run_client(self) -> None:
        try:
            await self.client.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the UI says why the client stopped
            self.inbox.notice(f"simulated scan client stopped: {exc}", "error")

    async def cleanup(self) -> None:
        if self.client is not None:
            self.client.stop()
        if self._client_task is not None:
            self._client_task.cancel()
            with contextlib.suppress(BaseException):
                await self._client_task
        if self.scanner is not None:
            with contextlib.suppress(Exception):
                await self.scanner.stop()

    def describe(self) -> str:
        text = super().describe()
        if self.scanner is not None:
            text = text.replace(f"http://{HOST}:{self.scanner.port}", "simulated scanner")
        return text
