"""Short forms of times, durations, sizes and counts for lists and panels."""

from __future__ import annotations

import time

SEVERITY_LABEL = {"error": "err", "warning": "warn", "info": "info"}


def clock(stamp: float | None) -> str:
    """Local wall-clock time with milliseconds: 14:03:07.412."""
    if not stamp:
        return ""
    whole = time.localtime(stamp)
    return time.strftime("%H:%M:%S", whole) + f".{int(stamp * 1000) % 1000:03d}"


def date_time(stamp: float | None) -> str:
    if not stamp:
        return ""
    return time.strftime("%Y-%m-%d ", time.localtime(stamp)) + clock(stamp)


def millis(value: float | None) -> str:
    """A latency: 12ms, 1.25s, 2m05s."""
    if value is None:
        return ""
    if value < 1000:
        return f"{value:.0f}ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.2f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def seconds(value: float | None) -> str:
    return "" if value is None else millis(value * 1000)


def size(count: int | None) -> str:
    if count is None:
        return ""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    units = ("KiB", "MiB", "GiB")
    for index, unit in enumerate(units):
        value /= 1024
        if value < 1024 or index == len(units) - 1:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def findings(count: int, severity: str | None) -> str:
    if not count:
        return ""
    return f"{count} {SEVERITY_LABEL.get(severity or '', '')}".rstrip()


def status(code: int | None, *, pending: bool = False) -> str:
    if code is None:
        return "…" if pending else "—"
    return str(code)
