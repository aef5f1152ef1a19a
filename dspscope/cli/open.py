"""dspscope open: the viewer on saved captures."""

from __future__ import annotations

import argparse
from typing import Any

HELP = "browse saved captures in the viewer (dspscope's or any mitmproxy capture)"
DESCRIPTION = """\
Open one or more mitmproxy captures in the viewer, offline: the ones
'dspscope proxy --save' and the viewer's ctrl+s write, and stock captures
from 'mitmdump -w' (decoded and followed per job as they load).  Large
captures load in the background; the list is usable at once.

Replaying an exchange (r) sends it to its recorded server again: that
server's certificate is checked against the system's roots, or --cafile,
or not at all with --insecure.

examples:
  dspscope open scans.mitm
  dspscope open monday.mitm tuesday.mitm
  dspscope open scans.mitm --cafile server-ca.pem
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    parser.add_argument("captures", nargs="+", metavar="CAPTURE", help="mitmproxy capture files")
    trust = parser.add_argument_group("replay (r)").add_mutually_exclusive_group()
    trust.add_argument("--cafile", type=Path, metavar="PEM",
                       help="trust these certificates for the servers exchanges are replayed to")
    trust.add_argument("--insecure", action="store_true",
                       help="do not verify the certificates of servers exchanges are replayed to")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dspscope.cli import UsageError

    for path in args.captures:
        if not Path(path).is_file():
            raise UsageError(f"{path} does not exist (give a capture written by --save or mitmdump -w)")
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.sources import CaptureSource

    source = CaptureSource(args.captures)
    source.replay_tls = replay_tls(args.cafile, args.insecure)
    DspscopeApp(source).run()
    return 0


def replay_tls(cafile: Any, insecure: bool) -> Any:
    """What replay from the viewer trusts (UsageError for an unusable --cafile)."""
    from dspscope.cli import UsageError
    from dspscope.sim.errors import SimError
    from dspscope.sim.tls import client_context

    if insecure:
        return False
    if cafile is None:
        return True
    try:
        return client_context(cafile)
    except SimError as exc:
        raise UsageError(str(exc)) from None
