"""mitmproxy's addon manager, with each event's hooks looked up once.

For every event (a connection opened, a request's headers, its body, the
response, and an ``update`` after each of those), mitmproxy's manager asks
every addon of its chain whether it has that hook: for each one it enters a
guard, starts a coroutine and walks the addon's sub-addons, about 2 µs,
whether or not the addon has anything to do.  A proxy carries about thirty
of mitmproxy's own addons and a dozen of dspscope's, and a proxied exchange
is about a dozen events: about a millisecond per exchange spent asking.
Under load that was over a quarter of the proxy's time (``py-spy --gil``:
samples under ``trigger_event`` and ``invoke_addon`` outside any hook).

``Dispatch`` keeps, for each event name, the hooks the chain has, in chain
order, and calls only those.  Everything else is mitmproxy's manager as it
is, and so are its rules:
- hooks run in chain order, awaited when they return an awaitable;
- an exception in a hook is logged by mitmproxy's own guard ("Addon error:
  ...") and the next addon still gets the event;
- ``AddonHalt`` ends the event there; ``OptionsError`` goes to whoever set
  the option;
- an addon with sub-addons (mitmproxy's script loader: scripts come and go
  while it runs) is asked the way mitmproxy asks it, every time.

The plans are dropped whenever an addon is added or removed.  A hook given
to an addon object after it joined the chain is not seen: mitmproxy's
addons, and dspscope's, define their hooks on their classes.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

from mitmproxy import addonmanager, exceptions, hooks, master

#: One step of an event's plan: the addon, and its hook; no hook means
#: "ask the addon as mitmproxy does" (it has sub-addons, or a strange hook).
Step = tuple[object, Callable[..., Any] | None]


class Dispatch(addonmanager.AddonManager):
    def __init__(self, master_: master.Master) -> None:
        super().__init__(master_)  # type: ignore[no-untyped-call]
        self._plans: dict[str, list[Step]] = {}

    # The chain changes only through these: each starts the plans afresh.
    def add(self, *addons: Any) -> None:
        try:
            super().add(*addons)  # type: ignore[no-untyped-call]
        finally:
            self._plans.clear()

    def remove(self, addon: Any) -> None:
        try:
            super().remove(addon)  # type: ignore[no-untyped-call]
        finally:
            self._plans.clear()

    def clear(self) -> None:
        super().clear()  # type: ignore[no-untyped-call]
        self._plans.clear()

    def plan(self, name: str) -> list[Step]:
        """The steps of event ``name``, in chain order."""
        steps = self._plans.get(name)
        if steps is None:
            steps = []
            for addon in self.chain:
                if getattr(addon, "addons", None) is not None:
                    steps.append((addon, None))
                    continue
                func = getattr(addon, name, None)
                if func is None or isinstance(func, types.ModuleType):
                    continue  # mitmproxy too passes over a module named like a hook
                steps.append((addon, func if callable(func) else None))
            self._plans[name] = steps
        return steps

    async def trigger_event(self, event: hooks.Hook) -> None:
        args = event.args()
        for addon, func in self.plan(event.name):
            try:
                if func is None:
                    with addonmanager.safecall():
                        await self.invoke_addon(addon, event)
                    continue
                result = func(*args)
                if result is not None and inspect.isawaitable(result):
                    await result
            except exceptions.AddonHalt:
                return
            except exceptions.OptionsError:
                raise
            except Exception:  # noqa: BLE001 - mitmproxy's guard logs it, as it would have
                with addonmanager.safecall():
                    raise


def install(master_: master.Master) -> Dispatch:
    """Give a freshly made master (no addons yet) a ``Dispatch``."""
    if master_.addons.chain:
        raise RuntimeError("install the dispatcher before adding addons")
    # The manager the master made listens to option changes; its
    # replacement listens instead (its own __init__ connects it).
    master_.options.changed.disconnect(master_.addons._configure_all)
    master_.addons = Dispatch(master_)
    return master_.addons
