"""dspscope's addons for stock mitmproxy:

    mitmdump -s addons/dspscope.py --mode reverse:https://SERVER:5362@5362 \
        --set dspscope_save=capture.mitm --set dspscope_headless=true

(also ``mitmproxy -s`` and ``mitmweb -s``), in a Python where dspscope is
installed (``pip install -e .`` in the checkout).  The options are listed by
``mitmdump -s addons/dspscope.py --options | grep dspscope``.
"""

import sys
from pathlib import Path

# mitmproxy puts this script's folder first on sys.path while it loads the
# script, where this very file would then answer ``import dspscope``.  The
# package is wanted, so the folder is taken out (mitmproxy restores sys.path
# after loading).
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]

try:
    from dspscope.addons import chain
except ImportError as exc:
    raise ImportError(
        f"dspscope is not installed in this Python ({sys.executable}): "
        "run 'pip install -e .' in the dspscope checkout first"
    ) from exc

addons = chain.build()
