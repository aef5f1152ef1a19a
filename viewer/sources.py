"""Where the viewer's exchanges come from: given flows, capture files, or a
live proxy (``viewer.live``).  A source fills an Inbox from its own thread
and may offer controls (rules, intercept) to the UI.  No Textual here."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mitmproxy import http

from dspscope.viewer.controls import InterceptControl, RulesControl
from dspscope.viewer.flowstore import CaptureFile, Location
from dspscope.viewer.inbox import Inbox
from dspscope.viewer.session import Batch, Entry, indexed_entry, prepare
from dspscope.wsdsp.jobs import JobTracker

BATCH = 1000
#: The first batch of a capture is small, so the first screen does not wait
#: for a thousand flows to be parsed (~1 ms each).
FIRST_BATCH = 50
PROGRESS_EVERY = 0.25


class Source:
    """A source with nothing to control: subclasses fill the inbox."""

    kind = "offline"
    title = ""
    rules: RulesControl | None = None
    intercept: InterceptControl | None = None
    #: What a replay to the exchange's server trusts: an SSLContext, True
    #: (the system roots) or False (no checks); ``dspscope open --cafile``
    #: and ``--insecure`` set it.
    replay_tls: Any = True

    def __init__(self) -> None:
        #: Toasts to show once the UI is up: (text, severity).
        self.notices: list[tuple[str, str]] = []

    def start(self, inbox: Inbox) -> None:
        """Begin delivering (returns at once)."""

    def stop(self) -> None:
        """Stop delivering and release everything (may block briefly)."""


class FlowsSource(Source):
    """Flows already in memory (tests, snapshots)."""

    def __init__(self, flows: Iterable[http.HTTPFlow], title: str = "flows in memory") -> None:
        super().__init__()
        self.flows = list(flows)
        self.title = title

    def start(self, inbox: Inbox) -> None:
        tracker = JobTracker()
        for at in range(0, len(self.flows), BATCH):
            inbox.put_batch(prepare(self.flows[at:at + BATCH], tracker))


class CaptureSource(Source):
    """Capture files (ours or stock mitmproxy's), read in a background
    thread and delivered in batches: the first screen shows at once."""

    kind = "capture"

    def __init__(self, paths: Sequence[str | Path]) -> None:
        super().__init__()
        self.paths = [str(p) for p in paths]
        self.title = ", ".join(Path(p).name for p in self.paths)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.files: list[CaptureFile] = []

    def start(self, inbox: Inbox) -> None:
        self._thread = threading.Thread(target=self._read, args=(inbox,), name="dspscope-open",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for records in self.files:
            records.close()

    def _read(self, inbox: Inbox) -> None:
        tracker = JobTracker()
        total = 0
        for path in self.paths:
            total += self._read_one(path, inbox, tracker)
            if self._stop.is_set():
                return
        inbox.progress("")
        inbox.log("info", f"loaded {total:,} exchanges from {len(self.paths)} file(s)")

    def _read_one(self, path: str, inbox: Inbox, tracker: JobTracker) -> int:
        """Deliver the exchanges of one capture: from its index where it has
        one (rows that keep only where their record is), else from the
        capture itself, writing the index on the way for the next open.
        Flows stay on disk, read back when shown."""
        from dspscope.addons.index import dumps, entry_line, index_path
        from dspscope.addons.record import CaptureError, read_indexed

        records = CaptureFile(path)
        self.files.append(records)
        lines = CaptureFile(index_path(path))
        self.files.append(lines)
        located = not _is_har(path)
        name = Path(path).name
        shown = [0.0]

        def progress(done: int, size: int) -> None:
            now = time.monotonic()
            if now - shown[0] >= PROGRESS_EVERY:
                shown[0] = now
                inbox.progress(f"loading {name} {100 * done // max(size, 1)}%")

        writer = self._index_writer(path) if located else None
        chunk: list[Entry] = []
        count = 0
        complete = False
        try:
            for item in read_indexed(path, tracker, progress):
                if self._stop.is_set():
                    return count
                count += 1
                where = Location(records, item.offset, item.length) if located else None
                line = Location(lines, *item.line) if item.line is not None else None
                chunk.append(indexed_entry(item.record, item.flags, where, line, item.flow))
                if item.flow is not None and writer is not None:
                    writer = self._index_line(writer, entry_line(
                        item.offset, item.length, dumps(item.flags), dumps(item.record)))
                if len(chunk) >= (BATCH if count > FIRST_BATCH else FIRST_BATCH):
                    inbox.put_batch(Batch(tuple(chunk)))
                    chunk = []
                    # Rows live as long as the session: the cyclic collector
                    # walking them again and again would cost more than
                    # reading them (the app freezes them too, less often).
                    gc.freeze()
            complete = True
        except CaptureError as exc:
            # A torn last record: the flows before it were read whole.
            inbox.notice(str(exc), "error" if not exc.flows_read else "warning")
        except Exception as exc:  # noqa: BLE001 - a broken file must not kill the viewer
            inbox.notice(f"{path}: cannot read: {exc!r}", "error")
        finally:
            if writer is not None:
                self._finish_index(writer, index_path(path), complete and count > 0)
        if chunk:
            inbox.put_batch(Batch(tuple(chunk)))
        return count

    @staticmethod
    def _index_writer(path: str) -> Any:
        """An index to write while reading a capture that has none (None:
        it has one, or its folder cannot take one: reading goes on)."""
        from dspscope.addons.index import IndexReader, IndexWriter, index_path

        if IndexReader(path).usable():
            return None
        try:
            return IndexWriter(index_path(path).with_name(index_path(path).name + ".part"))
        except OSError:
            return None

    @staticmethod
    def _index_line(writer: Any, line: bytes) -> Any:
        try:
            writer.write(line)
            return writer
        except OSError:
            writer.discard()
            return None

    @staticmethod
    def _finish_index(writer: Any, target: Path, keep: bool) -> None:
        if not keep:
            writer.discard()
            return
        writer.close()
        try:
            os.replace(writer.path, target)
        except OSError:
            writer.discard()


def _is_har(path: str) -> bool:
    """mitmproxy's reader also takes HAR files (JSON): no records to point at."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf").startswith(b"{")
