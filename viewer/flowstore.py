"""Where the session's flows are: on disk, with the recent ones in memory.

A viewer left on a proxy for days, or opened on a capture of 100,000
scanned pages, cannot hold every flow (images included) in memory.  Each
finished flow has a ``Location``: its record in the capture file it was
read from, or in the session's spool (a temporary file, unlinked at once,
that the proxy's thread appends each finished flow to).  ``Flows`` keeps
the last ``cache_size`` flows used and reads any other back on demand.
Flows without a location (requests still in flight, flows given in
memory) are held as they are.

Records are mitmproxy's own capture format, so saving a session is
copying records, and a spool is a valid capture.  No Textual here.
"""

from __future__ import annotations

import io as _io
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mitmproxy import http, io
from mitmproxy.io import tnetstring

from dspscope.addons.index import loads

CACHE_SIZE = 128


class Records(Protocol):
    def read(self, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Location:
    records: Records
    offset: int
    length: int

    def read(self) -> bytes:
        return self.records.read(self.offset, self.length)


class StoredRecord(Mapping[str, Any]):
    """An exchange's record kept on disk (a line of a capture's index, or of
    the session's spool), read each time it is looked at: a row holds this
    instead of the record itself."""

    __slots__ = ("_records", "_offset", "_length")

    def __init__(self, records: Records, offset: int, length: int) -> None:
        self._records = records
        self._offset = offset
        self._length = length

    @property
    def location(self) -> Location:
        return Location(self._records, self._offset, self._length)

    def _load(self) -> dict[str, Any]:
        data = self._records.read(self._offset, self._length)
        try:
            value = loads(data)
        except ValueError:
            return {}
        if isinstance(value, list) and len(value) == 4:  # an index line
            value = value[3]
        return value if isinstance(value, dict) else {}

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._load().get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def encode(flow: http.HTTPFlow) -> bytes:
    """A flow as one capture record (what mitmproxy's FlowWriter writes)."""
    return tnetstring.dumps(flow.get_state())


def decode(record: bytes) -> http.HTTPFlow | None:
    for found in io.FlowReader(_io.BytesIO(record)).stream():
        return found if isinstance(found, http.HTTPFlow) else None
    return None


class CaptureFile:
    """A capture file read from, by offset (any thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh: _io.BufferedReader | None = None

    def read(self, offset: int, length: int) -> bytes:
        with self._lock:
            if self._fh is None:
                self._fh = open(self.path, "rb")  # noqa: SIM115 - kept open while the session reads
            self._fh.seek(offset)
            return self._fh.read(length)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


class Spool:
    """An append-only temporary capture, private (0600) and unlinked as soon
    as it is created: nothing is left behind, whatever ends the process."""

    def __init__(self, directory: str | None = None) -> None:
        fd, name = tempfile.mkstemp(prefix="dspscope-session-", suffix=".mitm", dir=directory)
        os.unlink(name)
        self.fd = fd
        self.size = 0
        self._lock = threading.Lock()

    def append(self, flow: http.HTTPFlow) -> Location:
        return self.append_bytes(encode(flow))

    def append_bytes(self, record: bytes) -> Location:
        with self._lock:
            offset = self.size
            view = memoryview(record)
            while view:
                written = os.pwrite(self.fd, view, offset + len(record) - len(view))
                view = view[written:]
            self.size += len(record)
        return Location(self, offset, len(record))

    def read(self, offset: int, length: int) -> bytes:
        """The record (empty once the spool is closed: the session is over)."""
        fd = self.fd
        return os.pread(fd, length, offset) if fd >= 0 else b""

    def close(self) -> None:
        with self._lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


class Flows:
    """Flows by id: located ones read back on demand, the rest held.

    A location is kept as one int (the file's code, offset and length),
    not a ``Location`` and its two ints; a session keeps them instead in
    its rows' columns (``locate``: where a flow not kept here is) and
    hands its flows over with ``keep``."""

    def __init__(self, cache_size: int = CACHE_SIZE,
                 locate: Callable[[str], Location | None] | None = None) -> None:
        self.cache_size = cache_size
        self._locate = locate
        self.where: dict[str, int] = {}
        self._files: list[Records] = []
        self._file_codes: dict[int, int] = {}
        self.held: dict[str, http.HTTPFlow] = {}
        self._recent: OrderedDict[str, http.HTTPFlow] = OrderedDict()
        self._lock = threading.Lock()

    def put_location(self, flow_id: str, location: Location) -> None:
        """A flow known only by where it is (read from a capture's index)."""
        with self._lock:
            self.held.pop(flow_id, None)
            self.where[flow_id] = self._pack(location)

    def keep(self, flow: http.HTTPFlow) -> None:
        """A flow whose location ``locate`` knows: only the recent ones stay."""
        with self._lock:
            self.held.pop(flow.id, None)
            self._remember(flow.id, flow)

    def put(self, flow: http.HTTPFlow, location: Location | None) -> None:
        with self._lock:
            if location is None:
                self.held[flow.id] = flow
                return
            self.held.pop(flow.id, None)
            self.where[flow.id] = self._pack(location)
            self._remember(flow.id, flow)

    def get(self, flow_id: str) -> http.HTTPFlow | None:
        with self._lock:
            found = self.held.get(flow_id) or self._recent.get(flow_id)
            if found is not None:
                if flow_id in self._recent:
                    self._recent.move_to_end(flow_id)
                return found
            location = self._location(flow_id)
        if location is None:
            return None
        flow = decode(location.read())
        if flow is not None:
            with self._lock:
                self._remember(flow_id, flow)
        return flow

    def record(self, flow_id: str) -> bytes | None:
        """The flow as a capture record, without parsing it when on disk."""
        with self._lock:
            location = self._location(flow_id)
            held = self.held.get(flow_id)
        if location is not None:
            return location.read()
        return encode(held) if held is not None else None

    def __contains__(self, flow_id: object) -> bool:
        if flow_id in self.where or flow_id in self.held:
            return True
        return isinstance(flow_id, str) and self._locate is not None \
            and self._locate(flow_id) is not None

    def __len__(self) -> int:
        """Flows kept here (not those only ``locate`` knows)."""
        return len(self.where) + len(self.held)

    def _pack(self, location: Location) -> int:
        """(offset, length, file code) in one int (lengths under 2**40)."""
        records = location.records
        code = self._file_codes.get(id(records))
        if code is None or self._files[code] is not records:
            code = self._file_codes[id(records)] = len(self._files)
            self._files.append(records)
        return (((location.offset << 40) | location.length) << 16) | code

    def _location(self, flow_id: str) -> Location | None:
        packed = self.where.get(flow_id)
        if packed is None:
            return self._locate(flow_id) if self._locate is not None else None
        return Location(self._files[packed & 0xFFFF], packed >> 56, (packed >> 16) & (1 << 40) - 1)

    def _remember(self, flow_id: str, flow: http.HTTPFlow) -> None:
        self._recent[flow_id] = flow
        self._recent.move_to_end(flow_id)
        while len(self._recent) > self.cache_size:
            self._recent.popitem(last=False)
