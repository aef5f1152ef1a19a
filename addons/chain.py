"""The dspscope addons, in the order they must run.

Order matters: ``Decode`` first (everyone after it reads decoded messages),
then the rules addon (it may answer or rewrite), the events and address
rewriting, ``Track`` after every rewrite (it records what really crossed the
wire), then the writers that read Track's metadata.

The rules addon lives in ``addons.applyrules`` (class ``ApplyRules``); it is
put in its place when that module exists, and reads its rule files from the
``dspscope_rules`` option.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import IO

from dspscope.addons.abandoned import Abandoned
from dspscope.addons.addresses import Addresses
from dspscope.addons.capture import JsonlCapture, SaveCapture
from dspscope.addons.contentview import ContentView
from dspscope.addons.decode import Decode
from dspscope.addons.events import Events
from dspscope.addons.headless import Headless
from dspscope.addons.track import Track
from dspscope.addons.transparent import TransparentCheck
from dspscope.addons.upstreamtls import UpstreamTrust

RULES_MODULE = "dspscope.addons.applyrules"
RULES_CLASS = "ApplyRules"
RULES_OPTION = "dspscope_rules"


def rules_available() -> bool:
    return importlib.util.find_spec(RULES_MODULE) is not None


def _rules() -> list[object]:
    if not rules_available():
        return []
    factory = getattr(importlib.import_module(RULES_MODULE), RULES_CLASS, None)
    return [factory()] if factory is not None else []


def build(*, headless_out: IO[str] | None = None, contentview: bool = True) -> list[object]:
    """Fresh instances of all dspscope addons, in order."""
    track = Track()
    headless = Headless(headless_out)
    track.listeners.append(headless.jobs_finished)
    chain: list[object] = [
        Decode(), *_rules(), Events(), Addresses(), track, Abandoned(),
        SaveCapture(), JsonlCapture(), headless, TransparentCheck(), UpstreamTrust(),
    ]
    if contentview:
        chain.append(ContentView())
    return chain
