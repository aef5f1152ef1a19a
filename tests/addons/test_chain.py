from __future__ import annotations

from pathlib import Path

from mitmproxy.addons import script
from mitmproxy.proxy.layers.http import HttpResponseHook
from mitmproxy.test import taddons

from dspscope.addons import chain
from dspscope.addons.metadata import METADATA_KEY
from tests.addons import support
from tests.helpers import eventually_async

SCRIPT = Path(__file__).resolve().parents[2] / "addons" / "dspscope.py"


def test_order():
    names = [type(a).__name__ for a in chain.build()]
    assert names[0] == "Decode"
    assert names.index("Track") > max(names.index("Events"), names.index("Addresses"))
    assert names.index("Track") < min(names.index("SaveCapture"), names.index("JsonlCapture"),
                                      names.index("Headless"))


def test_rules_addon_is_optional(monkeypatch):
    monkeypatch.setattr(chain, "RULES_MODULE", "dspscope.addons.no_such_module")
    assert not chain.rules_available()
    assert all(type(a).__name__ != "ApplyRules" for a in chain.build())


async def test_stock_mitmproxy_loads_the_script(tmp_path):
    loader = script.ScriptLoader()
    with taddons.context(loader) as tctx:
        tctx.configure(loader, scripts=[str(SCRIPT)])
        # stock mitmproxy loads scripts in a task
        await eventually_async(lambda: loader.addons[0].addons, 10, "the script's addons loaded")
        loaded = [type(a).__name__ for a in loader.addons[0].addons[0].addons]
        assert loaded[:1] == ["Decode"] and "Track" in loaded
        tctx.master.options.update(dspscope_jsonl=str(tmp_path / "x.jsonl"))
        req = support.create()
        f = support.flow(req, support.created(req))
        await tctx.master.addons.handle_lifecycle(HttpResponseHook(f))
        assert f.metadata[METADATA_KEY]["job_token"] == support.TOKEN
        assert (tmp_path / "x.jsonl").read_text().count("\n") == 1
