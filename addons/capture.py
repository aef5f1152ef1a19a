"""Captures of a long-running proxy: a streamed mitmproxy capture (``.mitm``,
readable by stock ``mitmdump -nr``) and a JSONL file of records.

Each exchange is written, unbuffered, as soon as it completes, so a reader
(or a crash) sees at most the last exchange half-written; a write that fails
(a full disk) is cut back off, so the file stays readable to its end and
takes the next exchanges once there is room again.  Files are created
readable by their owner only: they hold user SIDs, addresses and scans.  Files rotate by size or age:
the full file is renamed ``STEM-YYYYMMDD-HHMMSS.SUFFIX`` (its start time) and
a fresh one is started under the given name; a file that already exists at
start is rotated away the same way, never overwritten or appended to.

Writing never disturbs traffic: a full disk is logged, not raised.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import re
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from mitmproxy import ctx, exceptions, http
from mitmproxy.io import tnetstring
from mitmproxy.utils import human

from dspscope.addons.record import json_line, record_of

logger = logging.getLogger(__name__)

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
                 max_age: float | None = None) -> None:
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > 0:
            os.replace(self.path, segment_name(self.path, self.path.stat().st_mtime))
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
        os.replace(self.path, segment_name(self.path, self._started))
        self.rotations += 1
        self._open()

    def write(self, data: bytes | Sequence[bytes]) -> None:
        """Append one record, given whole or as pieces (written in order,
        never joined: a record holding a 200 MB image is not copied)."""
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
        self._size += size

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


#: Records at least this large are written by a worker thread: writing a
#: scanned image to disk must not hold up its exchange (the device waits for
#: the response) nor the other connections.  Smaller records are written at
#: once, unless a large one is still being written (records stay in order).
BACKGROUND_BYTES = 256 * 1024


class _Writer:
    """Shared shape of the two capture addons: one option names the file,
    each finished HTTP flow is written once, flows still in flight at
    shutdown are written as they are."""

    option = ""
    help = ""

    def __init__(self) -> None:
        self.file: RotatingFile | None = None
        self.written = 0
        self.failures = 0
        self._lost = 0  # failed since the last write that worked
        self._in_flight: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
        self._done: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
        self._worker: ThreadPoolExecutor | None = None
        self._last: Future[None] | None = None

    def load(self, loader: Any) -> None:
        loader.add_option(self.option, str | None, None, self.help)
        for name, text in _ROTATION_OPTIONS:
            if name not in loader.master.options:
                loader.add_option(name, str | None, None, text)

    def configure(self, updated: set[str]) -> None:
        if not updated & {self.option, *(n for n, _ in _ROTATION_OPTIONS)}:
            return
        try:
            max_bytes, max_age = _rotation()
        except ValueError as exc:
            raise exceptions.OptionsError(str(exc)) from exc
        path = getattr(ctx.options, self.option)
        if self.file is not None and path and Path(path).expanduser() == self.file.path:
            self.file.max_bytes, self.file.max_age = max_bytes, max_age
            return
        self.close()
        if path:
            try:
                self.file = RotatingFile(path, max_bytes=max_bytes, max_age=max_age)
            except OSError as exc:
                raise exceptions.OptionsError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def request(self, flow: http.HTTPFlow) -> None:
        if self.file is not None:
            self._in_flight.add(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._write(flow)

    def done(self) -> None:
        for flow in list(self._in_flight):
            self._write(flow)
        self.close()

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)  # what was handed to it is written first
            self._worker, self._last = None, None
        if self.file is not None:
            self.file.close()
            self.file = None

    def _write(self, flow: http.HTTPFlow) -> None:
        if self.file is None or flow in self._done or flow.websocket is not None:
            return
        self._in_flight.discard(flow)
        self._done.add(flow)
        file = self.file
        try:
            record = self.serialize(flow)
        except Exception as exc:  # noqa: BLE001 - never disturb traffic
            self._failed(file, exc)
            return
        size = len(record) if isinstance(record, bytes) else sum(len(p) for p in record)
        busy = self._last is not None and not self._last.done()
        if size < BACKGROUND_BYTES and not busy:
            self._put(file, record)
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix=self.option)
        self._last = self._worker.submit(self._put, file, record)

    def _put(self, file: RotatingFile, record: bytes | Sequence[bytes]) -> None:
        """Write one record (on the event loop, or on the worker thread)."""
        try:
            file.write(record)
            self.written += 1
        except Exception as exc:  # noqa: BLE001 - never disturb traffic
            self._failed(file, exc)
            return
        if self._lost:
            logger.warning("dspscope: writing %s again; %d exchange(s) are missing from it",
                           file.path, self._lost)
            self._lost = 0

    def _failed(self, file: RotatingFile, exc: Exception) -> None:
        self.failures += 1
        self._lost += 1
        if self._lost == 1 or self.failures % 100 == 0:
            logger.error("dspscope: writing %s failed (%d so far): %s; traffic goes on "
                         "unrecorded there", file.path, self.failures, exc)

    def serialize(self, flow: http.HTTPFlow) -> bytes | Sequence[bytes]:
        raise NotImplementedError


_ROTATION_OPTIONS = (
    ("dspscope_rotate_size", "Start a new capture file when this size is reached, e.g. 500m."),
    ("dspscope_rotate_time", "Start a new capture file after this time, e.g. 1h or 1d."),
)


def _rotation() -> tuple[int | None, float | None]:
    size = ctx.options.dspscope_rotate_size
    age = ctx.options.dspscope_rotate_time
    return (parse_size(size) if size else None, parse_duration(age) if age else None)


#: Pieces at least this long are written as they are; shorter runs are
#: joined first (a flow has ~1000 tiny pieces, one iovec each costs more
#: than copying them).
_BIG_PIECE = 64 * 1024


def tnetstring_pieces(state: Any) -> Sequence[bytes]:
    """What ``tnetstring.dumps(state)`` would return, as a few pieces: the
    large bodies stay the flow's own bytes objects instead of being copied
    into one buffer (a copy per exchange; 200 MB more for a 200 MB image),
    everything between them is joined."""
    dump_pieces = getattr(tnetstring, "_rdumpq", None)
    if dump_pieces is None:  # a mitmproxy without it: the same bytes, joined
        return (tnetstring.dumps(state),)
    pieces: collections.deque[bytes] = collections.deque()
    dump_pieces(pieces, 0, state)
    out: list[bytes] = []
    run: list[bytes] = []
    for piece in pieces:
        if len(piece) >= _BIG_PIECE:
            if run:
                out.append(b"".join(run))
                run = []
            out.append(piece)
        else:
            run.append(piece)
    if run:
        out.append(b"".join(run))
    return out


class SaveCapture(_Writer):
    """``dspscope_save``: the streamed mitmproxy capture."""

    name = "dspscope_save"
    option = "dspscope_save"
    help = "Stream finished flows, with dspscope's metadata, to this mitmproxy capture file."

    def serialize(self, flow: http.HTTPFlow) -> bytes | Sequence[bytes]:
        return tnetstring_pieces(flow.get_state())


class JsonlCapture(_Writer):
    """``dspscope_jsonl``: one JSON record per exchange and line."""

    name = "dspscope_jsonl"
    option = "dspscope_jsonl"
    help = "Write one JSON record per exchange to this file (JSON Lines)."

    def __init__(self, record: Callable[[http.HTTPFlow], dict[str, Any]] = record_of) -> None:
        super().__init__()
        self._record = record

    def serialize(self, flow: http.HTTPFlow) -> bytes:
        return json_line(self._record(flow)).encode("utf-8") + b"\n"
