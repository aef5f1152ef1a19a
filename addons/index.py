"""The index beside a capture: ``scans.mitm.index`` holds, for each flow of
``scans.mitm``, where its record is in the capture and its decoded record
(the JSONL record of ``addons.record``), one JSON line each.

Reading a capture through mitmproxy's reader costs about a millisecond a
flow; reading the index costs a few microseconds, so ``dspscope check`` and
the viewer read the index and touch the ``.mitm`` only for the bodies a
user opens.  ``dspscope proxy --save`` writes the index as it writes the
capture (and rotates it with it); ``dspscope index`` builds one for any
other capture, and the viewer builds one on the first open.

An index is trusted only as far as it agrees with its capture: entries must
follow each other without gaps from offset 0 and end inside the capture, and
the first entry, and every 1024th, must find its own flow (by id) whole at
its place.  Whatever lies past the last good
entry (a proxy killed between the two writes, a damaged index, an index of
another file) is read from the ``.mitm`` as before.

File format (version 1): a header line ``{"dspscope_index": 1}``, then one
line per flow: ``[offset, length, flags, record]``; ``flags`` holds what
the record does not (the device the exchange belongs to, whether the proxy
rewrote it).  No mitmproxy here: the lines are plain data.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

try:
    import orjson
except ImportError:  # a checkout whose environment predates the dependency
    orjson = None  # type: ignore[assignment]


SUFFIX = ".index"
VERSION = 1
HEADER = b'{"dspscope_index":1}\n'


def index_path(capture: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(capture) + SUFFIX)


def dumps(value: Any) -> bytes:
    """JSON bytes, fast; text that mitmproxy decoded with surrogateescape
    (lone surrogates, which orjson refuses) goes through the json module
    with \\u escapes, as ``record.json_line`` writes it."""
    if orjson is not None:
        with contextlib.suppress(TypeError):
            return orjson.dumps(value, default=str)
    line = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return line.encode("utf-8", "backslashreplace")


def loads(line: bytes) -> Any:
    return orjson.loads(line) if orjson is not None else json.loads(line)


def entry_line(offset: int, length: int, flags: bytes, record: bytes) -> bytes:
    """One index line from JSON already encoded (``flags`` and ``record``)."""
    return b"[%d,%d,%b,%b]\n" % (offset, length, flags, record)


@dataclass(frozen=True, slots=True)
class Entry:
    offset: int
    length: int
    flags: Mapping[str, Any]
    record: dict[str, Any]
    #: Where this entry's own line is in the index (offset, length).
    line: tuple[int, int] = (0, 0)


class IndexWriter:
    """An index being written beside a capture (owner-only, like it)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        self._fh: IO[bytes] | None = open(fd, "wb", buffering=0)
        self._fh.write(HEADER)

    def write(self, line: bytes) -> None:
        if self._fh is not None:
            self._fh.write(line)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def discard(self) -> None:
        """Stop and remove it (a write failed: no index beats a wrong one)."""
        self.close()
        self.path.unlink(missing_ok=True)


#: Every so many entries, the flow at the entry's place is looked at.
CHECK_EVERY = 1024


def _record_at(fh: IO[bytes], offset: int, length: int, flow_id: Any) -> bool:
    """Whether the flow ``flow_id`` is a whole tnetstring of ``length``
    bytes at ``offset`` (mitmproxy writes its id near the end)."""
    fh.seek(offset)
    digits, colon, _ = fh.read(min(length, 16)).partition(b":")
    if not colon or not digits.isdigit() or len(digits) + 1 + int(digits) + 1 != length:
        return False
    tail = min(length, 1024)
    fh.seek(offset + length - tail)
    end = fh.read(tail)
    return (end.endswith(b"}") and isinstance(flow_id, str)
            and b":%b;" % flow_id.encode() in end)


class IndexReader:
    """The entries of an index that agree with the capture; ``covered`` is
    where they stop (the rest of the capture has to be read)."""

    def __init__(self, capture: str | os.PathLike[str]) -> None:
        self.capture = Path(capture)
        self.path = index_path(capture)
        self.covered = 0

    def usable(self) -> bool:
        try:
            with open(self.path, "rb") as fh:
                return fh.readline() == HEADER
        except OSError:
            return False

    def entries(self) -> Iterator[Entry]:
        """Good entries in order; ``covered`` grows as they are read."""
        try:
            size = self.capture.stat().st_size
            index = open(self.path, "rb", buffering=1 << 20)  # noqa: SIM115 - closed below
            capture = open(self.capture, "rb")  # noqa: SIM115
        except OSError:
            return
        with index, capture:
            if index.readline() != HEADER:
                return
            expected = 0
            count = 0
            at = len(HEADER)
            for line in index:
                if not line.endswith(b"\n"):
                    return  # torn last line
                try:
                    offset, length, flags, record = loads(line)
                except (ValueError, TypeError):
                    return
                if offset != expected or length <= 0 or offset + length > size:
                    return
                # The index describes this capture, not another of the same shape.
                if count % CHECK_EVERY == 0 and not _record_at(capture, offset, length,
                                                                record.get("id")):
                    return
                count += 1
                expected = offset + length
                self.covered = expected
                yield Entry(offset, length, flags, record, (at, len(line)))
                at += len(line)


