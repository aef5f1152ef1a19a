"""Captures written in other formats, for other tools: JSON Lines records
(the proxy's own), HAR 1.2 and mitmproxy's capture format.  Used by
``dspscope export`` and the viewer's export."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from dspscope import __version__


@contextlib.contextmanager
def output_file(path: str | os.PathLike[str], *, binary: bool = False,
                private: bool = True) -> Iterator[IO[Any]]:
    """A file that appears under ``path`` only once it is whole: written
    under a temporary name beside it and renamed when the block ends; an
    error or Ctrl-C in between removes it and leaves ``path`` as it was.

    ``private`` (anything holding scans or personal data) creates it
    readable by the owner only, as captures are; otherwise it gets the
    mode a plain ``open`` would (0666 less the umask)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent or ".")
    try:
        if not private:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with open(fd, "wb") if binary else open(fd, "w", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_jsonl(flows: Any, out: IO[str]) -> int:
    from dspscope.addons.record import json_line, records

    count = 0
    for record in records(flows):
        out.write(json_line(record) + "\n")
        count += 1
    return count


def write_mitm(flows: Any, path: str, *, private: bool = True) -> int:
    """A mitmproxy capture (stock mitmproxy reads it), metadata included;
    see ``output_file`` for how it is created."""
    from mitmproxy import io

    count = 0
    with output_file(path, binary=True, private=private) as fh:
        writer = io.FlowWriter(fh)
        for flow in flows:
            writer.add(flow)
            count += 1
    return count


def write_har(flows: Any, out: IO[str]) -> int:
    """HAR 1.2, one entry at a time (mitmproxy's own HAR entries, plus ours)."""
    from mitmproxy import http
    from mitmproxy import version as mitm_version
    from mitmproxy.addons.savehar import SaveHar

    from dspscope.addons.record import record_of
    from dspscope.wsdsp.jobs import JobTracker

    har = SaveHar()
    servers_seen: set[Any] = set()
    tracker = JobTracker()
    creator = {"name": "dspscope", "version": __version__,
               "comment": f"entries by mitmproxy {mitm_version.VERSION}"}
    out.write('{"log": {"version": "1.2", "creator": ' + json.dumps(creator)
              + ', "pages": [], "entries": [\n')
    count = 0
    for flow in flows:
        if not isinstance(flow, http.HTTPFlow):
            continue
        entry = har.flow_entry(flow, servers_seen)
        entry["_dspscope"] = record_of(flow, tracker)
        # ASCII, as mitmproxy writes HAR: binary bodies read as text carry
        # lone surrogates that only a \u escape can hold.
        out.write((",\n" if count else "") + json.dumps(entry, default=str))
        count += 1
    out.write("\n]}}\n")
    return count
