"""dspscope index: write the index beside captures."""

from __future__ import annotations

import argparse
import sys

HELP = "write the index beside captures, so that check and the viewer read them in seconds"
DESCRIPTION = """\
Read each capture once and write CAPTURE.index beside it: for every
exchange, where it is in the capture and its decoded record.  'dspscope
check' and the viewer then read the index and open the capture only for
the bodies you look at.  'dspscope proxy --save' writes the index as it
captures, and the viewer writes one the first time it opens a capture; this
command is for other captures (stock mitmdump -w, older dspscope).

Give the files of a rotated capture oldest first: jobs are followed across
files.  An existing index is replaced.  Exit status: 0, or 2 when a capture
cannot be read (the index then holds what could be read).

examples:
  dspscope index scans.mitm
  dspscope index scans-20240501-*.mitm scans.mitm
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("captures", nargs="+", metavar="CAPTURE", help="mitmproxy capture files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from dspscope.addons.index import index_path
    from dspscope.addons.record import CaptureError, build_index
    from dspscope.wsdsp.jobs import JobTracker

    from .progress import progress_bar

    tracker = JobTracker(max_jobs=1_000_000, max_message_ids=1_000_000)
    status = 0
    with progress_bar(args.captures, enabled=not args.no_progress) as advance:
        for path in args.captures:
            try:
                count = build_index(path, tracker, advance(path))
            except CaptureError as exc:
                print(f"dspscope index: {exc}", file=sys.stderr)
                status = 2
                continue
            except OSError as exc:
                print(f"dspscope index: cannot write {index_path(path)}: {exc.strerror or exc}",
                      file=sys.stderr)
                status = 2
                continue
            print(f"{index_path(path)}: {count:,} exchange(s)")
    return status
