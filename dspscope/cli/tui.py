"""dspscope tui: the viewer on a live proxy."""

from __future__ import annotations

import argparse

HELP = "run the proxy with the interactive viewer (same options as 'dspscope proxy')"
DESCRIPTION = """\
Run the capturing proxy exactly as 'dspscope proxy' does (same options) and
watch the traffic in the viewer: exchanges and jobs as they happen, decoded
and checked; fault rules switched on and off live; requests paused, edited
and forwarded (i); exchanges replayed (r).  A proxy that cannot start (port
in use, bad certificate file) is reported in the viewer, which stays up.

examples:
  dspscope tui --upstream https://scan.example.com:5362 --save scans.mitm
  dspscope tui --upstream https://10.0.0.5:5362 --insecure --rules my-faults.yaml
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dspscope.cli import proxy

    proxy.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import logging

    from dspscope.cli import proxy
    from dspscope.cli.open import replay_tls
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.live import LiveSource

    options = proxy.build_options(args)
    source = LiveSource(options, title=describe(args), sets=args.set, verbose=args.verbose)
    # replay (r) goes to the scan server: trust it as the proxy does
    source.replay_tls = replay_tls(options.get("ssl_verify_upstream_trusted_ca"), args.insecure)
    if args.listen_host in proxy.ALL_INTERFACES:
        source.notices.append(("Listening on every interface: anyone who can reach this host "
                               "can use the proxy.", "warning"))
    logging.getLogger().setLevel(logging.INFO if args.verbose else logging.WARNING)
    DspscopeApp(source).run()
    return 0


def describe(args: argparse.Namespace) -> str:
    if args.upstream:
        return f"live: proxy → {args.upstream}"
    return "live: proxy in mode " + ", ".join(args.mode or [])
