"""What the commands do around their work: end on Ctrl-C/SIGTERM, write
report files, print JSON reports.  Not a command (it is not in COMMANDS)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def on_signals(callback: Callable[[], Any] | None) -> None:
    """Ctrl-C and SIGTERM end the run cleanly (where the loop supports it);
    None gives the signals back their default behaviour."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            if callback is None:
                loop.remove_signal_handler(sig)
            else:
                loop.add_signal_handler(sig, callback)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            pass


async def until_signal() -> None:
    """Return at the first Ctrl-C or SIGTERM (a server's main loop)."""
    stop = asyncio.Event()
    on_signals(stop.set)
    await stop.wait()


def write_report(path: str | Path, data: bytes) -> None:
    """Write a report file (--junit); a path that cannot be written is the user's to fix."""
    from dspscope.cli import UsageError

    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
