"""dspscope proxy: the headless proxy, left running between devices and a
scan server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from dspscope.addons.events import EVENTS_TARGET
from dspscope.local import config_dir, free_port

HELP = "run the capturing proxy between devices and a scan server (headless)"
DESCRIPTION = """\
Run the capturing proxy: every exchange between devices and the scan server
is decoded, checked and followed per job; one line per exchange is printed,
and the traffic can be saved as a mitmproxy capture (--save, readable by
stock 'mitmdump -nr') and as JSON Lines (--jsonl).

The usual deployment is reverse mode: point the device's scan server address
at the proxy, and give the real server with --upstream.  Addresses the
server advertises (discovery, metadata, subscriptions) are rewritten to the
proxy's own so devices keep using it, and WS-Eventing subscriptions are
pointed at a second listener (--events-port) whose events are relayed to the
device, so job events appear in the capture too.

In the path (--mode transparent): on a gateway or bridge between the devices
and the server, a NAT rule redirects the devices' TCP port 5362 to the proxy
(the rule is printed at start); nothing on the device changes but the CA it
trusts.  --mode regular serves devices set to use an HTTP proxy.  In both,
the server is told to send events to the proxy's address on its own side.
See "Deploying in the path" in the README.

Devices talk TLS to the proxy with a certificate from the proxy's own CA
(created on first use under the dspscope config directory; make devices
trust CONFDIR/mitmproxy-ca-cert.pem), or with --cert.

Stop with Ctrl-C or SIGTERM: captures are flushed and closed.

examples:
  dspscope proxy --upstream https://scan.example.com:5362 --listen-host 0.0.0.0 \\
      --save scans.mitm --rotate-size 500m --jsonl scans.jsonl
  dspscope proxy --mode transparent --listen-port 8080 --upstream-ca server-ca.pem \
      --save scans.mitm
  dspscope proxy --mode regular --listen-host 0.0.0.0 --listen-port 8080 --save all.mitm
  dspscope proxy --upstream https://10.0.0.5:5362 --insecure --cert proxy.pem
"""

ALL_INTERFACES = ("0.0.0.0", "::", "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where")
    mode = where.add_mutually_exclusive_group()
    mode.add_argument("--upstream", metavar="URL",
                      help="the scan server, e.g. https://server:5362 (reverse mode)")
    mode.add_argument("--mode", action="append", metavar="MODE",
                      help="any mitmproxy mode instead (regular, transparent, "
                      "reverse:URL, ...); repeatable")
    where.add_argument("--listen-host", metavar="HOST",
                       help="address to listen on (default 127.0.0.1, and every interface with "
                       "--mode transparent, where redirected traffic arrives; 0.0.0.0 for every "
                       "IPv4 interface)")
    where.add_argument("--listen-port", type=int, default=5362, metavar="PORT",
                       help="port to listen on (default 5362; 0 for any free port)")
    where.add_argument("--events-port", type=int, metavar="PORT",
                       help="second listener that receives the server's events "
                       "(default: listen port + 1; 0 for any free port)")
    where.add_argument("--events-advertise", metavar="ADDRESS",
                       help="where the server should send events, when it cannot reach the "
                       "proxy's own address toward it (NAT): HOST, HOST:PORT or "
                       "http(s)://HOST:PORT (default: that address, and the events port)")
    where.add_argument("--no-events", action="store_true",
                       help="leave subscriptions alone (events then bypass the proxy)")
    where.add_argument("--advertise", metavar="URL",
                       help="proxy address to advertise to devices, e.g. https://proxy:5362 "
                       "(default: the address each device connected to)")

    tls = parser.add_argument_group("TLS")
    tls.add_argument("--cert", metavar="PEM", action="append",
                     help="certificate and key (one PEM file) to show devices instead of one "
                     "from the proxy's CA; DOMAIN=PEM for one name; repeatable")
    tls.add_argument("--confdir", metavar="DIR",
                     help="where the proxy's CA lives (default: CONFIG/mitmproxy)")
    tls.add_argument("--insecure", action="store_true",
                     help="do not verify the scan server's certificate")
    tls.add_argument("--upstream-ca", metavar="PEM",
                     help="trust this CA (bundle) for the scan server's certificate")
    tls.add_argument("--client-cert", metavar="PEM",
                     help="client certificate (with key) to present to the scan server")

    out = parser.add_argument_group("capture")
    out.add_argument("--save", metavar="FILE.mitm",
                     help="stream every exchange to this mitmproxy capture")
    out.add_argument("--jsonl", metavar="FILE", help="write one JSON record per exchange here")
    out.add_argument("--rotate-size", metavar="SIZE",
                     help="start new capture files at this size (e.g. 500m)")
    out.add_argument("--rotate-time", metavar="TIME",
                     help="start new capture files after this time (e.g. 1h, 1d)")
    out.add_argument("-q", "--quiet", action="store_true", help="no line per exchange")
    out.add_argument("-v", "--verbose", action="store_true", help="log more (mitmproxy's info log)")

    parser.add_argument("--rules", nargs="+", metavar="FILE",
                        help="fault-injection rule files to apply")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="set any mitmproxy option; repeatable")






def _file(path: str, what: str) -> str:
    from dspscope.cli import UsageError

    if not Path(path).expanduser().is_file():
        raise UsageError(f"{what} {path} does not exist")
    return str(Path(path).expanduser().resolve())


def is_transparent(mode: str) -> bool:
    return mode.partition("@")[0].partition(":")[0] == "transparent"


def _events_advertised(spec: str, port: int) -> str:
    """--events-advertise as the dspscope_events option: HOST alone takes the
    events listener's port."""
    from dspscope.addons.events import parse_events
    from dspscope.cli import UsageError

    text = spec
    bare_ipv6 = spec.count(":") > 1 and not spec.startswith("[")
    if "://" not in spec and (":" not in spec or bare_ipv6 or spec.endswith("]")):
        host = spec.strip("[]")
        text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        parse_events(text)
    except ValueError:
        raise UsageError(f"--events-advertise must be HOST, HOST:PORT or http(s)://HOST:PORT, "
                         f"not {spec!r}") from None
    return text


def build_options(args: argparse.Namespace) -> dict[str, Any]:
    """mitmproxy options for the command line; UsageError for bad ones."""
    from urllib.parse import urlsplit

    from dspscope.addons import chain
    from dspscope.addons.rotating import parse_duration, parse_size
    from dspscope.cli import UsageError

    if not args.upstream and not args.mode:
        raise UsageError("give the scan server with --upstream URL (or a mitmproxy --mode)")
    if args.upstream:
        parts = urlsplit(args.upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--upstream must be http(s)://SERVER[:PORT], not {args.upstream!r}")
        modes = [f"reverse:{parts.scheme}://{parts.netloc}"]
    else:
        modes = list(args.mode)
    listen_host = args.listen_host
    if listen_host is None:
        listen_host = "" if any(is_transparent(m) for m in modes) else "127.0.0.1"
    opts: dict[str, Any] = {
        "listen_host": listen_host,
        "listen_port": args.listen_port,
        "connection_strategy": "lazy",
        "dspscope_headless": not args.quiet,
    }
    if not args.no_events:
        port = args.events_port
        if port is None:
            port = args.listen_port + 1 if args.listen_port else 0
        if port == 0:
            port = free_port(listen_host or "0.0.0.0")
        host = listen_host if listen_host not in ALL_INTERFACES else ""
        modes.append(f"reverse:{EVENTS_TARGET}@{port}")
        opts["dspscope_events"] = f"{host}:{port}" if host else str(port)
        if args.events_advertise:
            opts["dspscope_events"] = _events_advertised(args.events_advertise, port)
    elif args.events_advertise:
        raise UsageError("--events-advertise and --no-events contradict each other; give one")
    opts["mode"] = modes
    confdir = Path(args.confdir).expanduser() if args.confdir else config_dir() / "mitmproxy"
    try:
        confdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(f"cannot create {confdir}: {exc.strerror or exc}") from None
    opts["confdir"] = str(confdir)
    if args.cert:
        specs = []
        for spec in args.cert:
            domain, sep, path = spec.rpartition("=")
            specs.append(f"{domain if sep else '*'}={_file(path, 'certificate')}")
        opts["certs"] = specs
    if args.insecure:
        opts["ssl_insecure"] = True
    if args.upstream_ca:
        opts["ssl_verify_upstream_trusted_ca"] = _file(args.upstream_ca, "CA file")
    if args.client_cert:
        opts["client_certs"] = _file(args.client_cert, "client certificate")
    if args.advertise:
        opts["dspscope_advertise"] = args.advertise
    for option, value, parse in (("dspscope_rotate_size", args.rotate_size, parse_size),
                                 ("dspscope_rotate_time", args.rotate_time, parse_duration)):
        if value:
            try:
                parse(value)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            opts[option] = value
    if args.save:
        opts["dspscope_save"] = args.save
    if args.jsonl:
        opts["dspscope_jsonl"] = args.jsonl
    if args.rules:
        if not chain.rules_available():
            raise UsageError("rules support not available in this installation")
        opts[chain.RULES_OPTION] = [_file(path, "rule file") for path in args.rules]
    return opts


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from dspscope.addons.runner import ProxyRunner, StartupError

    opts = build_options(args)
    if opts["listen_host"] in ALL_INTERFACES:
        print("dspscope proxy: warning: listening on every interface; anyone who can reach "
              "this host can use the proxy", file=sys.stderr)
    runner = ProxyRunner(opts, sets=args.set,
                         log_level=logging.INFO if args.verbose else logging.WARNING)
    # -v: mitmproxy's own "... listening at ADDRESS" repeats our start line
    logging.getLogger("mitmproxy.proxy.mode_servers").addFilter(
        lambda record: "listening at" not in record.getMessage())

    async def main() -> int:
        import signal

        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await runner.start()
        except StartupError as exc:
            print(f"dspscope proxy: {exc}{_hint(exc, opts)}", file=sys.stderr)
            return 1
        _announce(runner, opts)
        _settle_heap()
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, asyncio.ensure_future(runner.wait())},
                           return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await runner.stop()
        track = runner.track
        if track is not None:
            print(f"dspscope proxy: stopped after {track.exchanges} exchange(s)", file=sys.stderr)
        return 0

    _leave(asyncio.run(main()))


def _settle_heap() -> None:
    """Leave what is loaded at start (mitmproxy, lxml, the addons: some
    hundred thousand objects that live as long as the proxy) out of the
    garbage collector's full passes.  Under load each pass stopped every
    exchange for up to 50 ms; with them frozen, p99 latency of small
    exchanges went from 52 to 29 ms (8 devices, figure 1's load)."""
    import gc

    gc.collect()
    gc.freeze()


def _leave(code: int) -> NoReturn:
    """Exit now, without finalizing the interpreter: mitmproxy_rs's tokio
    threads can crash it while it finalizes (a segfault after a clean stop,
    exit status -11, one run in ten or so).  Everything is flushed and closed
    by now."""
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _hint(exc: Any, opts: dict[str, Any]) -> str:
    import errno

    if exc.errno != errno.EADDRINUSE or exc.address is None:
        return ""
    events = str(opts.get("dspscope_events") or "").rpartition(":")[2]
    which = "--events-port" if events == str(exc.address[1]) else "--listen-port"
    return f" (another program uses the port; choose another with {which})"


def addresses_text(addrs: list[tuple[str, int]]) -> str:
    """Each listening address once: a reverse proxy to an https server
    listens on TCP and UDP (HTTP/3) at the same address, and every
    interface is one socket per IP version; both families on one port are
    ``*:PORT``."""
    out: list[str] = []
    for host, port in addrs:
        families = {h for h, p in addrs if p == port}
        if host in ("::", "0.0.0.0") and {"::", "0.0.0.0"} <= families:
            text = f"*:{port}"
        else:
            text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if text not in out:
            out.append(text)
    return ", ".join(out) or "?"


def _announce(runner: Any, opts: dict[str, Any]) -> None:
    modes = opts.get("mode") or []

    def where(mode: str) -> str:
        return addresses_text(runner.addrs_of(mode))

    parts = [f"listening on {where(modes[0])}"] if modes else []
    if modes and modes[0].startswith("reverse:"):
        parts.append(f"forwarding to {modes[0][len('reverse:'):]}")
    if opts.get("dspscope_events"):
        parts.append(f"events on {where(modes[-1])}")
    if opts.get("dspscope_save"):
        parts.append(f"saving to {opts['dspscope_save']}")
    if opts.get("dspscope_jsonl"):
        parts.append(f"records to {opts['dspscope_jsonl']}")
    print("dspscope proxy: " + "; ".join(parts), file=sys.stderr)
    print(f"dspscope proxy: devices must trust {opts['confdir']}/mitmproxy-ca-cert.pem "
          "(or use --cert)", file=sys.stderr)
    for mode in modes:
        if is_transparent(mode):
            for line in redirect_rules(runner.addrs_of(mode)):
                print(f"dspscope proxy: {line}", file=sys.stderr)
    events = opts.get("dspscope_events")
    if events and modes and not modes[0].startswith("reverse:") and ":" not in str(events):
        ports = sorted({p for _, p in runner.addrs_of(modes[-1])})
        print(f"dspscope proxy: the server is told to send events to port "
              f"{', '.join(map(str, ports)) or events} at this host's address toward it: "
              "let it connect there", file=sys.stderr)


SCAN_PORT = 5362


def redirect_rules(addrs: list[tuple[str, int]]) -> list[str]:
    """What a transparent listener expects of the gateway, to print at start."""
    port = addrs[0][1] if addrs else 8080
    v6 = any(":" in host or host == "" for host, _ in addrs)
    lines = [
        f"transparent mode expects the devices' TCP port {SCAN_PORT} redirected to port {port} "
        "on this host (IFACE: the interface toward the devices), e.g.",
        f"  iptables -t nat -A PREROUTING -i IFACE -p tcp --dport {SCAN_PORT} "
        f"-j REDIRECT --to-ports {port}",
    ]
    if v6:
        lines.append(f"  ip6tables -t nat -A PREROUTING -i IFACE -p tcp --dport {SCAN_PORT} "
                     f"-j REDIRECT --to-ports {port}")
    lines.append(f"  or: nft add rule inet dspscope prerouting iifname IFACE tcp dport {SCAN_PORT} "
                 f"redirect to :{port}  (see \"Deploying in the path\" in the README)")
    return lines
