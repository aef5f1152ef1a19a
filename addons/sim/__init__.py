"""Simulated DSM scan server and scan device: both ends of WS-DSP as real
network programs (``dspscope sim server|device``), embeddable in-process.

    from addons.sim import ScanServer, SimulatedDevice, DeviceOptions

Nothing heavy is imported here; take the classes from their modules or
through the lazy names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from addons.sim.errors import SimError

if TYPE_CHECKING:
    from addons.sim.device import SimulatedDevice
    from addons.sim.results import DeviceOptions, JobResult, Summary
    from addons.sim.server import ScanServer

_LAZY = {
    "ScanServer": "addons.sim.server",
    "SimulatedDevice": "addons.sim.device",
    "DeviceOptions": "addons.sim.results",
    "JobResult": "addons.sim.results",
    "Summary": "addons.sim.results",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["DeviceOptions", "JobResult", "ScanServer", "SimError", "SimulatedDevice", "Summary"]
