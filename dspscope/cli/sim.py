"""dspscope sim server|device|scanner: the simulated DSM scan server and scan
device, and a simulated WSD scanner (WS-Scan)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path

HELP = "run a simulated DSM scan server or scan device (for testing without hardware)"
DESCRIPTION = """\
Both ends of WS-DSP as real network programs, so that the proxy, the viewer
and tests run on one machine, and so that a real device can be tested
against a simulated server, or a real server with a simulated device.

  server   a stateful scan server: discovery, metadata, post-scan jobs,
           WS-Eventing with events pushed to subscribers, images to disk
  device   a scanner running the whole job sequence for N jobs of M pages
  scanner  a WSD scanner (WS-Scan, the pull side of the family) that
           clients such as sane-airscan scan from: platen and duplex feeder

examples:
  dspscope sim server                          # https://127.0.0.1:5362/ScanServer
  dspscope sim server --port 0 --no-tls --store /tmp/scans
  dspscope sim device --jobs 20 --images 5 --concurrency 20 --subscribe
  dspscope sim device --server https://scansrv.example.test:5362/ScanServer \\
      --cafile server-ca.pem --psp 9e3b5a6c-1d2f-4b8a-8c7e-5f0a1b2c3d4e --user S-1-5-21-...
  dspscope sim device --proxy http://127.0.0.1:8080 \\
      --cafile ~/.config/dspscope/mitmproxy/mitmproxy-ca-cert.pem
  dspscope sim scanner --port 5358 --no-tls              # http://127.0.0.1:5358/WSDScan

The device example goes through 'dspscope proxy --mode regular --listen-port 8080',
trusting the proxy's CA, which lives in the dspscope config directory
($DSPSCOPE_HOME, else $XDG_CONFIG_HOME/dspscope, else ~/.config/dspscope).

Run 'dspscope sim ROLE --help' (server, device, scanner) for options.
"""

SERVER_HELP = """\
A simulated DSM scan server.  It prints 'listening on URL' (URL = the
discovery address to give a device) and serves until Ctrl-C or SIGTERM.
TLS is on by default with a self-signed certificate made on first use in
$DSPSCOPE_HOME (else $XDG_CONFIG_HOME/dspscope or ~/.config/dspscope);
give that file to a real device as its trusted certificate.
"""

DEVICE_HELP = """\
A simulated scan device: for every job, Probe, metadata Get, CreatePostScanJob,
SendImage per page, EndPostScanJob, then the end-state event (--subscribe) or
GetPostScanJobElements until the job is final.  Retries ServerErrorTemporaryError
with bounded back-off; any other fault fails the job.  Exit status 1 if any
job failed.  Without --cafile it trusts the system roots and the simulated
server's own certificate.
"""

SCANNER_HELP = """\
A simulated WSD scanner serving WS-Scan at http(s)://HOST:PORT/WSDScan:
GetScannerElements (description, configuration with a platen and a duplex
feeder, status, default ticket), ValidateScanTicket, CreateScanJob,
RetrieveImage (real pages of the ticket's size, resolution, colour mode and
format, as MTOM attachments), GetJobElements, CancelJob, GetActiveJobs,
GetJobHistory; WS-Transfer Get metadata, WS-Discovery Probe answers and
WS-Eventing subscriptions to its job and status events.  A platen job yields
one page; a feeder job --sheets pages (twice that for ADFDuplex), then
ClientErrorNoImagesAvailable.

Point sane-airscan at it (or at a 'dspscope proxy --upstream' in front of it)
with a line in airscan.conf:
  [devices]
  "dspscope scanner" = http://127.0.0.1:5358/WSDScan, WSD
"""

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?)i?b?", re.IGNORECASE)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sim_role", metavar="ROLE")
    server = sub.add_parser(
        "server",
        help="a simulated scan server",
        description=SERVER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    server.add_argument(
        "--port", type=int, default=5362, help="TCP port, 0 for any free one (default 5362)"
    )
    server.add_argument("--no-tls", action="store_true", help="plain HTTP instead of HTTPS")
    server.add_argument("--cert", type=Path, help="PEM certificate to serve (with --key)")
    server.add_argument("--key", type=Path, help="PEM private key of --cert")
    server.add_argument(
        "--store",
        type=Path,
        metavar="DIR",
        help="write received images as DIR/<user>/<DocumentRootName>-<n>.<ext>",
    )
    server.add_argument(
        "--processing-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait before running a job's filters (slower, more visible jobs)",
    )
    server.add_argument("-q", "--quiet", action="store_true", help="print only the startup lines")

    scanner = sub.add_parser(
        "scanner",
        help="a simulated WSD scanner (WS-Scan)",
        description=SCANNER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scanner.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    scanner.add_argument(
        "--port", type=int, default=5358, help="TCP port, 0 for any free one (default 5358)"
    )
    scanner.add_argument("--no-tls", action="store_true", help="plain HTTP instead of HTTPS")
    scanner.add_argument("--cert", type=Path, help="PEM certificate to serve (with --key)")
    scanner.add_argument("--key", type=Path, help="PEM private key of --cert")
    scanner.add_argument(
        "--sheets", type=int, default=3, help="sheets in the feeder per ADF job (default 3)"
    )
    scanner.add_argument("--name", default="dspscope simulated scanner", help="ScannerName")
    scanner.add_argument("-q", "--quiet", action="store_true", help="print only the startup lines")

    device = sub.add_parser(
        "device",
        help="a simulated scan device",
        description=DEVICE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    device.add_argument(
        "--server",
        default="https://127.0.0.1:5362/ScanServer",
        metavar="URL",
        help="the server's discovery address (default https://127.0.0.1:5362/ScanServer)",
    )
    device.add_argument("--jobs", type=int, default=1, help="jobs to run (default 1)")
    device.add_argument("--images", type=int, default=3, help="pages per job (default 3)")
    device.add_argument(
        "--concurrency", type=int, default=1, help="jobs in flight at once (default 1)"
    )
    device.add_argument(
        "--image-size",
        type=_size,
        default=100_000,
        metavar="BYTES",
        help="about this many bytes per image; 250k and 5M work too (default 100000)",
    )
    device.add_argument(
        "--format",
        default="png",
        help="image format: png, jfif, tiff-single-g4, "
        "tiff-multi-g4, pdf-a, dib, ... (default png)",
    )
    device.add_argument(
        "--subscribe",
        action="store_true",
        help="run an event sink, subscribe, and wait for each job's end-state event",
    )
    device.add_argument(
        "--sink-host", default="127.0.0.1", help="event sink address (default 127.0.0.1)"
    )
    device.add_argument(
        "--sink-port", type=int, default=0, help="event sink port (default: any free one)"
    )
    device.add_argument("--cafile", type=Path, help="PEM file of the certificates to trust")
    device.add_argument(
        "--insecure", action="store_true", help="do not verify the server certificate"
    )
    device.add_argument(
        "--proxy", metavar="URL", help="send through this HTTP proxy (e.g. dspscope proxy)"
    )
    device.add_argument(
        "--source-address",
        metavar="IP",
        help="connect from this local address (e.g. 127.0.0.2 to be a second device)",
    )
    device.add_argument("--seed", type=int, help="seed for images, user SID and PSP id")
    device.add_argument("--json", action="store_true", help="one JSON object per job on stdout")
    device.add_argument(
        "--loop", action="store_true", help="run jobs until Ctrl-C (ignores --jobs)"
    )
    device.add_argument(
        "--pause",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="pause between one job and the next in each slot",
    )
    device.add_argument("--user", metavar="SID", help="UserIdentifier (default: made from --seed)")
    device.add_argument(
        "--psp", metavar="GUID", help="PSP_Identifier of a scan process on the server"
    )
    device.add_argument("--document-root", default="Scan", metavar="NAME", help="DocumentRootName")
    device.add_argument(
        "--share", action="append", default=[], metavar="UNC", help="file share filter target"
    )
    device.add_argument(
        "--email", action="append", default=[], metavar="ADDR", help="add an e-mail filter"
    )
    device.add_argument(
        "--retries", type=int, default=5, help="retries after ServerErrorTemporaryError"
    )
    device.add_argument(
        "--event-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for a job's outcome (default 30)",
    )


def run(args: argparse.Namespace) -> int:
    from dspscope.cli import UsageError
    from dspscope.sim.errors import SimError

    if args.sim_role is None:
        raise UsageError(
            "say which: 'dspscope sim server', 'dspscope sim device' or 'dspscope sim scanner' "
            "(see --help)"
        )
    from dspscope.cli import sim_roles

    try:
        if args.sim_role == "server":
            return asyncio.run(sim_roles.serve(args))
        if args.sim_role == "scanner":
            return asyncio.run(sim_roles.scan(args))
        return asyncio.run(sim_roles.drive(args))
    except SimError as exc:
        raise UsageError(str(exc)) from None


def _size(text: str) -> int:
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 100000, 250k, 5M)")
    number, unit = float(match.group(1)), match.group(2).lower()
    value = int(number * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit])
    if value < 100:
        raise argparse.ArgumentTypeError("an image needs at least 100 bytes")
    return value


if __name__ == "__main__":  # python -m dspscope.cli.sim: this command alone, without the others
    from dspscope.cli import UsageError

    _parser = argparse.ArgumentParser(
        prog="dspscope sim",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(_parser)
    _args = _parser.parse_args()
    try:
        sys.exit(run(_args))
    except UsageError as _exc:
        print(f"dspscope sim: {_exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
