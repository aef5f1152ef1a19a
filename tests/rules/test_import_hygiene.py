"""rules/ decides and does no I/O: importing it pulls in no proxy, UI or
networking module."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("mitmproxy", "textual", "aiohttp", "asyncio", "ssl", "h11", "httpx", "addons", "viewer")


def test_rules_imports_no_io_or_ui_modules() -> None:
    code = (
        "import json, sys, rules, rules.engine, rules.edits, rules.answers, rules.parse, rules.presets;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = json.loads(out.stdout)
    assert [m for m in loaded if m.split(".")[0] in FORBIDDEN] == []
