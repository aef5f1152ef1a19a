"""dspscope open: the viewer on saved captures."""

from __future__ import annotations

import argparse

HELP = "browse saved captures in the viewer (dspscope's or any mitmproxy capture)"
DESCRIPTION = """\
Open one or more mitmproxy captures in the viewer, offline: the ones
'dspscope proxy --save' and the viewer's ctrl+s write, and stock captures
from 'mitmdump -w' (decoded and followed per job as they load).  Large
captures load in the background; the list is usable at once.

examples:
  dspscope open scans.mitm
  dspscope open monday.mitm tuesday.mitm
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("captures", nargs="+", metavar="CAPTURE", help="mitmproxy capture files")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dspscope.cli import UsageError

    for path in args.captures:
        if not Path(path).is_file():
            raise UsageError(f"{path} does not exist (give a capture written by --save or mitmdump -w)")
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.sources import CaptureSource

    DspscopeApp(CaptureSource(args.captures)).run()
    return 0
