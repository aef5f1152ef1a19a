"""Dispatch: every addon gets each event as mitmproxy's own manager gives it."""

from __future__ import annotations

import asyncio
import logging
import types

import pytest
from mitmproxy import addonmanager, exceptions, master, options
from mitmproxy.addons import default_addons
from mitmproxy.proxy.layers.http import HttpRequestHeadersHook, HttpRequestHook, HttpResponseHook
from mitmproxy.test import tflow

from dspscope.addons import dispatch


class Seen:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def request(self, flow: object) -> None:
        self.log.append(f"{self.name}.request")


class AsyncSeen(Seen):
    async def response(self, flow: object) -> None:
        # Suspend once, as a hook waiting for I/O would: the log shows
        # whether the dispatcher awaited it before going on.
        resumed = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(resumed.set_result, None)
        await resumed
        self.log.append(f"{self.name}.response")


class Fails(Seen):
    def request(self, flow: object) -> None:
        raise RuntimeError("broken addon")


class Halts(Seen):
    def request(self, flow: object) -> None:
        self.log.append(f"{self.name}.request")
        raise exceptions.AddonHalt


class Parent(Seen):
    """Has sub-addons that change while it runs, as mitmproxy's script loader."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__(name, log)
        self.addons: list[object] = []


class Option:
    name = "with_option"

    def __init__(self) -> None:
        self.configured: set[str] = set()

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option("dispatch_test", int, 1, "an option")

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx
        if "dispatch_test" in updated and ctx.options.dispatch_test < 0:
            raise exceptions.OptionsError("dispatch_test must not be negative")
        self.configured |= updated


def make(*addons: object) -> master.Master:
    m = master.Master(options.Options(), event_loop=asyncio.get_running_loop())
    dispatch.install(m)
    m.addons.add(*addons)
    return m


async def test_hooks_run_in_chain_order_sync_and_async():
    log: list[str] = []
    m = make(Seen("a", log), AsyncSeen("b", log), Seen("c", log), AsyncSeen("d", log))
    f = tflow.tflow(resp=True)
    await m.addons.handle_lifecycle(HttpRequestHook(f))
    await m.addons.handle_lifecycle(HttpResponseHook(f))
    assert log == ["a.request", "b.request", "c.request", "d.request",
                   "b.response", "d.response"]


async def test_a_plan_holds_only_addons_with_the_hook():
    m = make(Seen("a", []), AsyncSeen("b", []))
    assert [a.name for a, _ in m.addons.plan("response")] == ["b"]
    assert m.addons.plan("tcp_message") == []


async def test_a_failing_addon_is_logged_by_mitmproxy_and_the_next_still_runs(caplog):
    log: list[str] = []
    m = make(Seen("a", log), Fails("bad", log), Seen("c", log))
    with caplog.at_level(logging.ERROR):
        await m.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
    assert log == ["a.request", "c.request"]
    assert "Addon error: broken addon" in caplog.text
    assert any(r.name == addonmanager.logger.name for r in caplog.records)


async def test_addon_halt_ends_the_event():
    log: list[str] = []
    m = make(Halts("a", log), Seen("b", log))
    await m.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
    assert log == ["a.request"]


async def test_sub_addons_are_asked_each_time():
    log: list[str] = []
    parent = Parent("parent", log)
    m = make(parent, Seen("after", log))
    await m.addons.trigger_event(HttpRequestHook(tflow.tflow()))
    parent.addons.append(Seen("child", log))  # a script loaded while running
    await m.addons.trigger_event(HttpRequestHook(tflow.tflow()))
    assert log == ["parent.request", "after.request",
                   "parent.request", "child.request", "after.request"]


async def test_adding_and_removing_addons_starts_the_plans_afresh():
    log: list[str] = []
    first = Seen("first", log)
    m = make(first)
    await m.addons.trigger_event(HttpRequestHook(tflow.tflow()))
    m.addons.add(Seen("second", log))
    await m.addons.trigger_event(HttpRequestHook(tflow.tflow()))
    m.addons.remove(first)
    await m.addons.trigger_event(HttpRequestHook(tflow.tflow()))
    assert log == ["first.request", "first.request", "second.request", "second.request"]


async def test_a_module_named_like_a_hook_is_passed_over():
    odd = Seen("odd", [])
    odd.response = types.ModuleType("response")  # type: ignore[assignment]
    m = make(odd)
    assert m.addons.plan("response") == []


async def test_options_load_configure_and_refuse_as_before():
    inner = Option()
    m = make(inner)
    m.options.update(dispatch_test=3)
    assert "dispatch_test" in inner.configured
    with pytest.raises(exceptions.OptionsError, match="must not be negative"):
        m.options.update(dispatch_test=-1)


async def test_mitmproxy_addons_and_lookups_work_behind_it():
    m = make(*default_addons())
    assert m.addons.get("proxyserver") is not None
    f = tflow.tflow()
    m.options.update(modify_headers=["/~q/x-dispatch/yes"])
    await m.addons.handle_lifecycle(HttpRequestHeadersHook(f))
    assert f.request.headers["x-dispatch"] == "yes"


async def test_install_wants_a_master_without_addons():
    m = make(Seen("a", []))
    with pytest.raises(RuntimeError, match="before adding addons"):
        dispatch.install(m)
