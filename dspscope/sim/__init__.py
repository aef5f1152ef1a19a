"""Simulated DSM scan server and scan device: both ends of WS-DSP as real
network programs (``dspscope sim server|device``), embeddable in-process.

    from dspscope.sim import ScanServer, SimulatedDevice, DeviceOptions

Nothing heavy is imported here; take the classes from their modules or
through the lazy names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dspscope.sim.errors import SimError

if TYPE_CHECKING:
    from dspscope.sim.device import SimulatedDevice
    from dspscope.sim.results import DeviceOptions, JobResult, Summary
    from dspscope.sim.server import ScanServer

_LAZY = {
    "ScanServer": "dspscope.sim.server",
    "SimulatedDevice": "dspscope.sim.device",
    "DeviceOptions": "dspscope.sim.results",
    "JobResult": "dspscope.sim.results",
    "Summary": "dspscope.sim.results",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["DeviceOptions", "JobResult", "ScanServer", "SimError", "SimulatedDevice", "Summary"]
