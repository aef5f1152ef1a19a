"""Files that rotate: an append-only capture file, flushed after every
record and started afresh by size or age, the finished part renamed
``STEM-YYYYMMDD-HHMMSS.SUFFIX`` (its start time); and the parsing of the
rotation options.  No mitmproxy hooks here (``addons.capture`` has them)."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from mitmproxy.utils import human

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in "90", "90s", "15m", "1h" or "2d"; ValueError otherwise."""
    match = _DURATION.fullmatch(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 1h, 1d)")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def parse_size(text: str) -> int:
    """Bytes in "500k", "100m", "2g"; ValueError otherwise."""
    try:
        size = human.parse_size(text)
    except ValueError:
        size = None
    if not size or size <= 0:
        raise ValueError(f"not a size: {text!r} (use e.g. 500k, 100m, 2g)")
    return size


def segment_name(path: Path, started: float) -> Path:
    """Where a finished segment of ``path`` that started at ``started`` goes."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    candidate = path.with_name(f"{path.stem}-{stamp}{path.suffix}")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{stamp}-{n}{path.suffix}")
        n += 1
    return candidate


def segments(path: str | Path) -> list[Path]:
    """The finished segments of a rotated capture, oldest first, then the
    current file: the order to read them in."""
    path = Path(path)
    pattern = re.compile(re.escape(path.stem) + r"-(\d{8}-\d{6})(?:-(\d+))?" + re.escape(path.suffix))
    found = []
    for candidate in path.parent.glob(f"{path.stem}-*{path.suffix}"):
        match = pattern.fullmatch(candidate.name)
        if match:
            found.append((match.group(1), int(match.group(2) or 0), candidate))
    ordered = [p for _, _, p in sorted(found)]
    return [*ordered, path] if path.exists() else ordered


class RotatingFile:
    """An append-only file that is flushed after every write and rotated by
    size (``max_bytes``) or age (``max_age`` seconds)."""

    def __init__(self, path: str | Path, *, max_bytes: int | None = None,
                 max_age: float | None = None,
                 on_rotate: Callable[[Path], None] | None = None) -> None:
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self.max_age = max_age
        #: Called with the finished segment's new name, once it has it.
        self.on_rotate = on_rotate
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > 0:
            segment = segment_name(self.path, self.path.stat().st_mtime)
            os.replace(self.path, segment)
            if on_rotate is not None:
                on_rotate(segment)
        self._fh: IO[bytes] | None = None
        self._size = 0
        self._started = 0.0
        self.rotations = 0
        self._open()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        self._fh = open(fd, "wb", buffering=0)
        self._size = 0
        self._started = time.time()

    def _due(self, incoming: int) -> bool:
        if self._size == 0:
            return False
        if self.max_bytes is not None and self._size + incoming > self.max_bytes:
            return True
        return self.max_age is not None and time.time() - self._started >= self.max_age

    def rotate(self) -> None:
        self.close()
        segment = segment_name(self.path, self._started)
        os.replace(self.path, segment)
        self.rotations += 1
        self._open()
        if self.on_rotate is not None:
            self.on_rotate(segment)

    def write(self, data: bytes | Sequence[bytes]) -> int:
        """Append one record, given whole or as pieces (written in order,
        never joined: a record holding a 200 MB image is not copied); the
        offset it was written at."""
        if self._fh is None:
            raise ValueError(f"{self.path} is closed")
        pieces = (data,) if isinstance(data, bytes) else data
        size = sum(len(piece) for piece in pieces)
        if self._due(size):
            self.rotate()
        assert self._fh is not None
        try:
            _write_all(self._fh.fileno(), pieces)
        except BaseException:
            # Never leave half a record behind: readers stop at the first
            # broken one, and every exchange after it would be lost to them.
            with contextlib.suppress(OSError, ValueError):
                os.ftruncate(self._fh.fileno(), self._size)
                os.lseek(self._fh.fileno(), self._size, os.SEEK_SET)
            raise
        offset = self._size
        self._size += size
        return offset

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


_IOV_MAX = 1024


def _write_all(fd: int, pieces: Sequence[bytes]) -> None:
    """Write ``pieces`` in order with gathering writes (no joined copy),
    going on after partial writes."""
    views = [memoryview(piece) for piece in pieces if piece]
    while views:
        batch = views[:_IOV_MAX]
        written = os.writev(fd, batch)
        done = 0
        while done < len(batch) and written >= len(batch[done]):
            written -= len(batch[done])
            done += 1
        views = views[done:]
        if written:
            views[0] = views[0][written:]
