"""Captures of a long-running proxy: a streamed mitmproxy capture (``.mitm``,
readable by stock ``mitmdump -nr``) with its index beside it
(``addons.index``: where each record is, and its decoded record), and a
JSONL file of records.

Each exchange is written, unbuffered, as soon as it completes, so a reader
(or a crash) sees at most the last exchange half-written; a write that fails
(a full disk) is cut back off, so the file stays readable to its end and
takes the next exchanges once there is room again.  Files are created
readable by their owner only: they hold user SIDs, addresses and scans.
Files rotate by size or age (``addons.rotating``); a file that already
exists at start is rotated away the same way, never overwritten or appended
to.

Writing never disturbs traffic: a full disk is logged, not raised.
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions, http

from dspscope.addons import tnetwrite
from dspscope.addons.bodies import OFF_LOOP_BYTES
from dspscope.addons.index import IndexWriter, dumps, entry_line, index_path
from dspscope.addons.record import index_flags, record_of
from dspscope.addons.rotating import (  # noqa: F401 - the capture's public names
    RotatingFile,
    parse_duration,
    parse_size,
    segment_name,
    segments,
)

logger = logging.getLogger(__name__)

#: Records at least this large are written by a worker thread: writing a
#: scanned image to disk must not hold up its exchange (the device waits for
#: the response) nor the other connections.  Every record is made on the
#: event loop, as bytes the worker may write from elsewhere.  Smaller
#: records are written at once, unless a large one is still being written
#: (records stay in order); ``bodies.OFF_LOOP_BYTES`` says why the line is
#: where it is.
BACKGROUND_BYTES = OFF_LOOP_BYTES


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
                self.file = self.open_file(path, max_bytes, max_age)
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
            record = self.record(flow)
            extra = self.companion(flow)
        except Exception as exc:  # noqa: BLE001 - never disturb traffic
            self._failed(file, exc)
            return
        size = len(record) if isinstance(record, bytes) else sum(len(p) for p in record)
        busy = self._last is not None and not self._last.done()
        if size < BACKGROUND_BYTES and not busy:
            self._put(file, record, size, extra)
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix=self.option)
        self._last = self._worker.submit(self._put, file, record, size, extra)

    def _put(self, file: RotatingFile, record: bytes | Sequence[bytes], size: int,
             extra: Any = None) -> None:
        """Write one record (on the event loop, or on the worker thread)."""
        try:
            offset = file.write(record)
            self.written += 1
        except Exception as exc:  # noqa: BLE001 - never disturb traffic
            self._failed(file, exc)
            return
        if extra is not None:
            self.written_at(offset, size, extra)
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

    def open_file(self, path: str, max_bytes: int | None, max_age: float | None) -> RotatingFile:
        return RotatingFile(path, max_bytes=max_bytes, max_age=max_age)

    def record(self, flow: http.HTTPFlow) -> bytes | Sequence[bytes]:
        """The flow's record, made on the event loop: bytes only, so that
        another thread may write it while the flow changes."""
        raise NotImplementedError

    def companion(self, flow: http.HTTPFlow) -> Any:
        """What ``written_at`` needs, taken from the flow when its record is made."""
        return None

    def written_at(self, offset: int, size: int, extra: Any) -> None:
        """The record of ``extra`` is in the file at ``offset`` (same thread as the write)."""


_ROTATION_OPTIONS = (
    ("dspscope_rotate_size", "Start a new capture file when this size is reached, e.g. 500m."),
    ("dspscope_rotate_time", "Start a new capture file after this time, e.g. 1h or 1d."),
)


def _rotation() -> tuple[int | None, float | None]:
    size = ctx.options.dspscope_rotate_size
    age = ctx.options.dspscope_rotate_time
    return (parse_size(size) if size else None, parse_duration(age) if age else None)


#: The JSON of each flow's record, made once for the index and the JSONL file.
_record_json: weakref.WeakKeyDictionary[http.HTTPFlow, bytes] = weakref.WeakKeyDictionary()


def record_json(flow: http.HTTPFlow) -> bytes:
    found = _record_json.get(flow)
    if found is None:
        found = _record_json[flow] = dumps(record_of(flow))
    return found


class SaveCapture(_Writer):
    """``dspscope_save``: the streamed mitmproxy capture, and its index
    (``addons.index``) beside it, rotated with it."""

    name = "dspscope_save"
    option = "dspscope_save"
    help = "Stream finished flows, with dspscope's metadata, to this mitmproxy capture file."

    def __init__(self) -> None:
        super().__init__()
        self.index: IndexWriter | None = None

    def open_file(self, path: str, max_bytes: int | None, max_age: float | None) -> RotatingFile:
        file = RotatingFile(path, max_bytes=max_bytes, max_age=max_age, on_rotate=self._rotated)
        self._start_index(file.path)
        return file

    def close(self) -> None:
        super().close()
        if self.index is not None:
            self.index.close()
            self.index = None

    def record(self, flow: http.HTTPFlow) -> list[bytes]:
        # The metadata is written as it is rather than deep-copied first
        # by ``get_state`` (a third of the work for a small flow).
        if flow._backup is not None:  # get_state compares the backup with the whole state
            return tnetwrite.pieces(flow.get_state())
        metadata = flow.metadata
        flow.metadata = {}
        try:
            state = flow.get_state()
        finally:
            flow.metadata = metadata
        state["metadata"] = metadata
        return tnetwrite.pieces(state)

    def companion(self, flow: http.HTTPFlow) -> tuple[bytes, bytes]:
        return dumps(index_flags(flow)), record_json(flow)

    def written_at(self, offset: int, size: int, extra: tuple[bytes, bytes]) -> None:
        if self.index is None:
            return
        try:
            self.index.write(entry_line(offset, size, *extra))
        except OSError as exc:
            logger.warning("dspscope: writing %s failed (%s); dropped it, readers will read the "
                           "capture itself", self.index.path, exc.strerror or exc)
            self.index.discard()
            self.index = None

    def _rotated(self, segment: Path) -> None:
        """The capture file became ``segment``: its index goes with it."""
        if self.file is None:  # the file found at start, moved aside
            with contextlib.suppress(OSError):
                old = index_path(Path(getattr(ctx.options, self.option)).expanduser())
                if old.exists():
                    os.replace(old, index_path(segment))
            return
        if self.index is not None:
            self.index.close()
            with contextlib.suppress(OSError):
                os.replace(self.index.path, index_path(segment))
        self._start_index(self.file.path)

    def _start_index(self, capture: Path) -> None:
        if not capture.is_file():  # a device (/dev/full) or a pipe: nothing to index, nowhere to put it
            self.index = None
            return
        try:
            self.index = IndexWriter(index_path(capture))
        except OSError as exc:
            self.index = None
            logger.warning("dspscope: cannot write %s (%s); readers will read the capture itself",
                           index_path(capture), exc.strerror or exc)


class JsonlCapture(_Writer):
    """``dspscope_jsonl``: one JSON record per exchange and line."""

    name = "dspscope_jsonl"
    option = "dspscope_jsonl"
    help = "Write one JSON record per exchange to this file (JSON Lines)."

    def __init__(self, record: Callable[[http.HTTPFlow], dict[str, Any]] = record_of) -> None:
        super().__init__()
        self._record = record

    def record(self, flow: http.HTTPFlow) -> bytes:
        if self._record is record_of:
            line = _record_json.pop(flow, None) or dumps(record_of(flow))
            return line + b"\n"
        return dumps(self._record(flow)) + b"\n"
