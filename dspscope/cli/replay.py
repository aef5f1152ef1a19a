"""dspscope replay server|client: protocol-aware replay of captured sessions."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HELP = "replay a captured session: play its scan server, or its devices against a server"
DESCRIPTION = """\
Replay WS-DSP sessions from captures (dspscope proxy --save, or any
'mitmdump -w' capture).  Byte-for-byte replay cannot work with WS-DSP:
every request has a fresh MessageID that the answer must relate to, and the
server mints the JobToken of each job.  This replay speaks the protocol.

  server   act as the recorded scan server, to test a device without it:
           requests are matched to recorded exchanges by operation, position
           in the job and device (never by bytes); answers are regenerated
           with a fresh MessageID, RelatesTo = the request's MessageID and
           consistent JobTokens; recorded faults are replayed as faults, and
           recorded events go to the device's current NotifyTo at the same
           point of the job
  client   act as the recorded device(s), to regression-test a scan server:
           the recorded requests are sent again with fresh MessageIDs and the
           live server's JobTokens; each answer is compared with the recorded
           one, ignoring ids and timestamps; exit status 1 when behaviour
           differs

examples:
  dspscope replay server session.mitm --listen-port 5362
  dspscope replay server session.mitm --fresh-tokens --timing recorded --unmatched 404
  dspscope replay client session.mitm --to https://scansrv.example.test:5362 --cafile ca.pem
  dspscope replay client day1.mitm day2.mitm --to https://127.0.0.1:5362 --insecure \\
      --speed max --concurrency 8 --junit replay.xml
"""

SERVER_HELP = """\
Act as the scan server recorded in the captures.  Point the device at the
printed URL (this server, with the path the recorded device started at,
e.g. https://127.0.0.1:5362/ScanServer).  Addresses the recorded server handed out
(hosted service, subscription manager) are rewritten to this server.
TLS uses the simulators' self-signed certificate unless --cert/--key.
Unmatched requests get --unmatched: a SOAP fault (default), 404, or are
forwarded to a real server (forward URL); nothing is forwarded otherwise.

examples:
  dspscope replay server session.mitm
  dspscope replay server session.mitm --key '//dsp:DocumentId' --unmatched forward https://real:5362
"""

CLIENT_HELP = """\
Act as the devices recorded in the captures, against the server at --to
(its origin replaces the recorded one; paths and the service id follow what
the live server says).  Jobs keep their order and interleaving.  Recorded
subscriptions are pointed at a local event sink, and each job's end-state
event is compared too.  Reports: text (default), --json, --junit FILE.
Ctrl-C stops early: the report (and --junit) then covers what ran.
Exit status 0: same behaviour; 1: behaviour differs; 2: bad arguments, or
no connection to --to at all (a server that is down is not a regression);
130: interrupted.

examples:
  dspscope replay client session.mitm --to https://127.0.0.1:5362 --insecure
  dspscope replay client session.mitm --to https://srv:5362 --cafile ca.pem --speed recorded --json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="replay_role", metavar="ROLE")
    server = sub.add_parser("server", help="act as the recorded scan server", description=SERVER_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    # "*": files given after --unmatched's words are taken back by _unmatched()
    server.add_argument("captures", nargs="*", metavar="CAPTURE", help="mitmproxy capture file(s)")
    server.add_argument("--listen-host", default="127.0.0.1", metavar="HOST",
                        help="address to listen on (default 127.0.0.1)")
    server.add_argument("--listen-port", type=int, default=5362, metavar="PORT",
                        help="port, 0 for any free one (default 5362)")
    server.add_argument("--no-tls", action="store_true", help="plain HTTP instead of HTTPS")
    server.add_argument("--cert", type=Path, metavar="PEM",
                        help="certificate to serve (with its key in the same file, or --cert-key)")
    server.add_argument("--cert-key", type=Path, metavar="PEM", help="private key of --cert")
    server.add_argument("--fresh-tokens", action="store_true",
                        help="issue new JobTokens instead of the recorded ones")
    server.add_argument("--timing", choices=("recorded", "none"), default="none",
                        help="recorded: answer and send events after the recorded delays "
                        "(default none: at once)")
    server.add_argument("--key", dest="keys", action="append", default=[],
                        metavar="XPATH", help="also match on this XPath's value (prefixes dsp, psp, "
                        "wsa, soap...); repeatable, e.g. //dsp:DocumentId")
    server.add_argument("--unmatched", nargs="+", default=["fault"], metavar="fault|404|forward URL",
                        help="answer for requests no recorded exchange matches (default fault)")
    server.add_argument("--forward-insecure", action="store_true",
                        help="do not verify the certificate of the --unmatched forward server")
    server.add_argument("-q", "--quiet", action="store_true", help="print only the startup lines")

    client = sub.add_parser("client", help="act as the recorded devices against a server",
                            description=CLIENT_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    client.add_argument("captures", nargs="+", metavar="CAPTURE", help="mitmproxy capture file(s)")
    client.add_argument("--to", required=True, metavar="URL", help="the scan server, e.g. https://srv:5362")
    client.add_argument("--speed", choices=("recorded", "max"), default="max",
                        help="recorded: keep the recorded pace; max: as fast as allowed (default)")
    client.add_argument("--concurrency", type=int, default=4, metavar="N",
                        help="requests in flight at once (default 4)")
    trust = client.add_mutually_exclusive_group()
    trust.add_argument("--insecure", action="store_true", help="do not verify the server certificate")
    trust.add_argument("--cafile", type=Path, metavar="PEM", help="certificates to trust")
    client.add_argument("--notify-host", metavar="HOST",
                        help="address the server should send events to (default: this host's "
                        "address towards the server)")
    client.add_argument("--no-events", action="store_true",
                        help="leave recorded subscriptions as they are; do not compare events")
    client.add_argument("--event-wait", type=float, default=10.0, metavar="SECONDS",
                        help="wait this long at the end for end-state events (default 10)")
    client.add_argument("--latency-threshold", type=float, default=1000.0, metavar="MS",
                        help="note latency changes beyond this (default 1000 ms)")
    client.add_argument("--fail-on-latency", action="store_true",
                        help="latency changes count as differences (exit 1)")
    client.add_argument("--ignore", action="append", default=[], metavar="PATH",
                        help="ignore differences at field paths matching this pattern, "
                        "e.g. '*/JobStatus/JobState'; repeatable")
    client.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    client.add_argument("--junit", type=Path, metavar="FILE", help="also write a JUnit XML report")
    client.add_argument("-v", "--verbose", action="store_true", help="list matching exchanges too")


def run(args: argparse.Namespace) -> int:
    from dspscope.addons.record import CaptureError
    from dspscope.cli import UsageError
    from dspscope.replay.load import load_captures
    from dspscope.sim.errors import SimError

    if args.replay_role is None:
        raise UsageError("say which: 'dspscope replay server' or 'dspscope replay client' (see --help)")
    if args.replay_role == "server":
        args.unmatched, args.forward = _unmatched(args.unmatched, args.captures)
    if not args.captures:
        raise UsageError("give at least one capture file")
    try:
        capture = load_captures(args.captures)
    except CaptureError as exc:
        raise UsageError(str(exc)) from None
    if not capture.exchanges:
        raise UsageError(f"no HTTP exchanges in {', '.join(args.captures)}")
    try:
        if args.replay_role == "server":
            return asyncio.run(_serve(args, capture))
        return asyncio.run(_replay(args, capture))
    except (SimError, ValueError) as exc:
        raise UsageError(str(exc)) from None


# -------------------------------------------------------------------- server


def _unmatched(values: list[str], captures: list[str]) -> tuple[str, str | None]:
    """(policy, forward URL) from --unmatched's words; any further words are
    capture files that argparse gave to the option."""
    from dspscope.cli import UsageError

    policy, rest = values[0], values[1:]
    forward = None
    if policy == "forward":
        if not rest or not rest[0].startswith(("http://", "https://")):
            raise UsageError("--unmatched forward needs the server's URL: --unmatched forward https://SERVER:PORT")
        forward, rest = rest[0], rest[1:]
    elif policy not in ("fault", "404"):
        raise UsageError(f"--unmatched takes fault, 404 or forward URL, not {policy!r}")
    captures.extend(rest)
    return policy, forward


async def _serve(args: argparse.Namespace, capture: Any) -> int:
    from dspscope.cli import UsageError
    from dspscope.cli.running import until_signal
    from dspscope.replay.server import ReplayServer

    if not 0 <= args.listen_port <= 65535:
        raise UsageError(f"--listen-port {args.listen_port} is not a TCP port (0-65535)")
    if args.no_tls and (args.cert or args.cert_key):
        raise UsageError("--cert/--cert-key make no sense with --no-tls")
    if args.cert_key and not args.cert:
        raise UsageError("--cert-key needs --cert")
    server = ReplayServer(
        capture, host=args.listen_host, port=args.listen_port, tls_on=not args.no_tls,
        cert=args.cert, key=args.cert_key or args.cert, fresh_tokens=args.fresh_tokens, keys=args.keys,
        timing=args.timing, unmatched=args.unmatched, forward=args.forward,
        forward_ssl=not args.forward_insecure, log=None if args.quiet else _say,
    )
    try:
        await server.start()
    except OSError as exc:
        raise UsageError(str(exc.strerror or exc)) from None
    jobs, events = len(capture.creates), len(capture.events)
    print(f"dspscope replay server: {len(capture.exchanges)} exchange(s), {jobs} job(s), "
          f"{events} event(s) from {len(capture.devices)} device(s)", flush=True)
    print(f"dspscope replay server: listening on {server.endpoint}", flush=True)
    if server.tls_on:
        print(f"certificate {server.cert} (a device must trust it)", flush=True)
    try:
        await until_signal()
    finally:
        await server.stop()
        pending = len(server.replay.pending_events())
        print(f"dspscope replay server: {server.matched} matched, {server.replay.unmatched} unmatched, "
              f"{server.events.sent} event(s) sent, {server.events.failed} failed, "
              f"{server.events.undeliverable + pending} not sent", flush=True)
    return 0


def _say(line: str) -> None:
    text = "".join(c if c.isprintable() else "?" for c in line)
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


# -------------------------------------------------------------------- client


async def _replay(args: argparse.Namespace, capture: Any) -> int:
    from dspscope.cli import UsageError
    from dspscope.cli.running import on_signals, print_json, write_report
    from dspscope.replay import report as reporting
    from dspscope.replay.client import CannotConnect, ClientOptions, replay_capture
    from dspscope.sim import tls
    from dspscope.wsdsp.replay import origin_of

    if origin_of(args.to) is None:
        raise UsageError(f"--to must be an http(s):// URL, not {args.to!r}")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    context = tls.client_context(args.cafile, insecure=args.insecure)
    options = ClientOptions(
        speed=args.speed, concurrency=args.concurrency, ssl=context, notify_host=args.notify_host,
        events=not args.no_events, event_wait=args.event_wait,
        latency_threshold=args.latency_threshold / 1000.0, ignore=tuple(args.ignore),
    )
    steps = len(capture.exchanges)
    stop = asyncio.Event()
    with _progress(steps, enabled=not args.json) as advance:
        on_signals(stop.set)
        try:
            report = await replay_capture(capture, args.to, options, on_result=advance, stop=stop)
        except CannotConnect as exc:
            hint = "; give --cafile PEM (the server's CA) or --insecure" if exc.certificate else ""
            raise UsageError(f"{exc}{hint}") from None
        finally:
            on_signals(None)
    if report.interrupted:
        print(f"dspscope replay client: interrupted after {len(report.results)} of "
              f"{len(report.results) + report.skipped} exchange(s); the report covers those",
              file=sys.stderr)
    if args.junit:
        write_report(args.junit, reporting.junit(report))
    if args.json:
        print_json(report.to_json())
    else:
        for line in reporting.lines(report, verbose=args.verbose):
            print(line)
    if report.interrupted:
        return 130
    differs = not report.ok
    if args.fail_on_latency:
        differs = differs or any(d.kind == "latency" for r in report.results for d in r.differences)
    return 1 if differs else 0


class _progress:
    """rich.progress on a terminal; nothing otherwise."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None

    def __enter__(self) -> Callable[[Any], None]:
        if not self.enabled:
            return lambda _result: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(TextColumn("replaying", markup=False), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[differ]} differ", markup=False),
                             console=Console(stderr=True), transient=True)
        self._bar.__enter__()
        task = self._bar.add_task("replay", total=self.total, differ=0)
        differ = 0

        def advance(result: Any) -> None:
            nonlocal differ
            differ += 0 if result.ok else 1
            self._bar.update(task, advance=1, differ=differ)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
