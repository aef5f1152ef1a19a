"""dspscope demo: the viewer on a simulated device, proxy and scan server."""

from __future__ import annotations

import argparse

HELP = "watch a simulated scanner and scan server through the proxy (the default command)"
DESCRIPTION = """\
Start a simulated scan server, the dspscope proxy in front of it and a
simulated scan device that runs post-scan jobs in a loop, all on 127.0.0.1,
and open the viewer on the traffic.  Nothing to configure.

In the viewer: pick an exchange to see it decoded, its XML, headers,
scanned page and findings; press 2 for the jobs and enter for a job's
timeline; press 3 for the fault rules (the busy-server preset is loaded,
switched off: space switches a rule on and the device's retries show);
i pauses requests for editing; r replays one; ? lists every key.

'dspscope' with no command runs this.

With --wsscan the other direction of the family instead: a simulated WSD
scanner (WS-Scan), the proxy in front of it and a simulated client pulling
pages from its platen and feeder, as sane-airscan or Windows would.

examples:
  dspscope
  dspscope demo --jobs-in-parallel 4 --images 5
  dspscope demo --wsscan
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs-in-parallel", type=int, default=2, metavar="N",
                        help="jobs the simulated device runs at once (default 2)")
    parser.add_argument("--images", type=int, default=3, metavar="N",
                        help="pages per job (default 3)")
    parser.add_argument("--pause", type=float, default=2.0, metavar="SECONDS",
                        help="pause between two jobs of one slot (default 2)")
    parser.add_argument("--wsscan", action="store_true",
                        help="show a WS-Scan session (a client scanning from a WSD scanner) instead")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show mitmproxy's info log in the Log view")


def run(args: argparse.Namespace) -> int:
    from dspscope.cli import UsageError

    if args.jobs_in_parallel < 1 or args.images < 1 or args.pause < 0:
        raise UsageError("--jobs-in-parallel and --images must be at least 1, --pause not negative")
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.demo import DemoSource, ScanDemoSource

    if args.wsscan:
        DspscopeApp(ScanDemoSource(pause=args.pause, verbose=args.verbose)).run()
        return 0
    source = DemoSource(jobs_in_parallel=args.jobs_in_parallel, images=args.images,
                        pause=args.pause, verbose=args.verbose)
    DspscopeApp(source).run()
    return 0
