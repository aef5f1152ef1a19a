"""dspscope's addons for stock mitmproxy:

    mitmdump -s addons/dspscope.py --mode reverse:https://SERVER:5362@5362 \
        --set dspscope_save=capture.mitm --set dspscope_headless=true

(also ``mitmproxy -s`` and ``mitmweb -s``).  The options are listed by
``mitmdump -s addons/dspscope.py --options | grep dspscope``.
"""

import sys
from pathlib import Path

try:
    import addons.chain
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import addons.chain

addons = addons.chain.build()
