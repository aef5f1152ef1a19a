"""wsdsp is sans-I/O: importing it must not pull in mitmproxy, textual or
any networking module."""

from __future__ import annotations

import json
import subprocess
import sys

# (socket itself is imported by the standard e-mail header parser; no I/O
# framework, TLS or HTTP client may be.)
FORBIDDEN = ("mitmproxy", "textual", "aiohttp", "asyncio", "ssl", "h11", "httpx")


def test_wsdsp_imports_no_io_or_ui_modules() -> None:
    code = (
        "import json, sys, wsdsp, wsdsp.build, wsdsp.jobs, wsdsp.checks;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = json.loads(out.stdout)
    bad = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert bad == []
