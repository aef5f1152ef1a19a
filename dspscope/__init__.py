"""dspscope: an inspection and debugging proxy for WS-DSP (Distributed Scan
Management) traffic.

The layers, lowest first (``tests/test_layers.py`` holds them):

* ``dspscope.wsdsp``   the protocol, sans I/O: bytes in, typed messages out;
* ``dspscope.rules``   what a rule file says and which rule fires (no I/O);
* ``dspscope.addons``  mitmproxy addons, one concern each;
* ``dspscope.sim``, ``dspscope.replay``  simulated peers and replay over aiohttp;
* ``dspscope.viewer``  the Textual UI;
* ``dspscope.cli``     the ``dspscope`` command, the only layer above them all.

``dspscope.addons``, ``dspscope.viewer`` and ``dspscope.rules`` live in the
repository's top-level folders ``addons/``, ``viewer/`` and ``rules/``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dspscope")
except PackageNotFoundError:  # pragma: no cover - a checkout that is not installed
    __version__ = "0+unknown"
