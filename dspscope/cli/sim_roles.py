"""What ``dspscope sim server|scanner|device`` do once their arguments are
parsed (sim.py declares the arguments and their help)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

# -------------------------------------------------------------------- server


async def serve(args: argparse.Namespace) -> int:
    from dspscope.cli.running import until_signal
    from dspscope.sim.listener import WILDCARD_HOSTS
    from dspscope.sim.server import ScanServer

    _check_listening(args)
    server = ScanServer(
        args.host,
        args.port,
        tls_on=not args.no_tls,
        cert=args.cert,
        key=args.key,
        store=args.store,
        processing_delay=args.processing_delay,
        log=None if args.quiet else _say,
    )
    await server.start()
    if args.host in WILDCARD_HOSTS:
        print(
            "dspscope sim server: warning: listening on all interfaces; anyone on the network "
            "can reach this server",
            file=sys.stderr,
        )
    print(f"WS-DSP endpoint {server.endpoint}")
    if server.tls_on:
        print(f"certificate {server.cert} (a device must trust it: --cafile {server.cert})")
    if args.store:
        print(f"storing images under {args.store}")
    # Last startup line, the one scripts wait for: everything above is printed by then.
    print(f"dspscope sim server: listening on {server.url}", flush=True)
    try:
        await until_signal()
    finally:
        _say("stopping")
        await server.stop()
    return 0


async def scan(args: argparse.Namespace) -> int:
    from dspscope.cli import UsageError
    from dspscope.cli.running import until_signal
    from dspscope.sim.listener import WILDCARD_HOSTS
    from dspscope.sim.scanner import ScannerModel, SimulatedScanner

    _check_listening(args)
    if not 1 <= args.sheets <= 1000:
        raise UsageError(f"--sheets {args.sheets}: give 1 to 1000")
    scanner = SimulatedScanner(
        args.host, args.port, tls_on=not args.no_tls, cert=args.cert, key=args.key,
        model=ScannerModel(name=args.name, sheets=args.sheets),
        log=None if args.quiet else _say,
    )
    await scanner.start()
    if args.host in WILDCARD_HOSTS:
        print(
            "dspscope sim scanner: warning: listening on all interfaces; anyone on the network "
            "can scan from this scanner",
            file=sys.stderr,
        )
    if scanner.tls_on:
        print(f"certificate {scanner.cert} (a client must trust it)")
    # Last startup line, the one scripts wait for.
    print(f"dspscope sim scanner: listening on {scanner.url}", flush=True)
    try:
        await until_signal()
    finally:
        _say("stopping")
        await scanner.stop()
    return 0


def _check_listening(args: argparse.Namespace) -> None:
    """The options a listening role (server, scanner) shares."""
    from dspscope.cli import UsageError

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port (0-65535)")
    if args.no_tls and (args.cert or args.key):
        raise UsageError("--cert/--key make no sense with --no-tls")


def _say(line: str) -> None:
    from dspscope.sim.report import printable

    print(f"{time.strftime('%H:%M:%S')} {printable(line)}", flush=True)


# -------------------------------------------------------------------- device


async def drive(args: argparse.Namespace) -> int:
    from dspscope.cli import UsageError
    from dspscope.cli.running import on_signals
    from dspscope.sim.device import SimulatedDevice
    from dspscope.sim.errors import SimError
    from dspscope.sim.images import supported
    from dspscope.sim.report import Reporter
    from dspscope.sim.results import DeviceOptions

    for name, low in (("jobs", 1), ("images", 0), ("concurrency", 1), ("retries", 0)):
        if getattr(args, name) < low:
            raise UsageError(f"--{name} must be at least {low}")
    if args.format not in supported():
        raise UsageError(f"--format {args.format!r}: choose one of {', '.join(supported())}")
    if args.cafile and args.insecure:
        raise UsageError("--cafile and --insecure contradict each other; give one")
    options = DeviceOptions(
        server=args.server,
        jobs=args.jobs,
        images=args.images,
        concurrency=args.concurrency,
        image_size=args.image_size,
        format=args.format,
        subscribe=args.subscribe,
        sink_host=args.sink_host,
        sink_port=args.sink_port,
        cafile=args.cafile,
        insecure=args.insecure,
        proxy=args.proxy,
        source_address=args.source_address,
        seed=args.seed,
        loop=args.loop,
        pause=args.pause,
        user=args.user,
        psp_id=args.psp,
        document_root=args.document_root,
        shares=tuple(args.share),
        emails=tuple(args.email),
        retries=args.retries,
        event_timeout=args.event_timeout,
    )
    reporter = Reporter(
        jobs=None if args.loop else args.jobs, images=args.images, as_json=args.json
    )
    device = SimulatedDevice(options, on_progress=reporter)
    task = asyncio.create_task(device.run())
    interrupted = False

    def interrupt() -> None:
        """First Ctrl-C: cancel the jobs in flight (the server is told); a second one quits hard."""
        nonlocal interrupted
        interrupted = True
        device.stop()
        task.cancel()
        on_signals(None)

    on_signals(interrupt)
    try:
        await task
    except asyncio.CancelledError:
        pass
    except SimError:
        reporter.close(None)
        raise
    reporter.close(device.summary)
    if device.summary.failed:
        return 1
    return 130 if interrupted and not args.loop else 0
