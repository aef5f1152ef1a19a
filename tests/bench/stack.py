"""The programs under test, as real processes on 127.0.0.1: the simulated
scan server (upstream), ``dspscope proxy`` and plain ``mitmdump`` of the same
installation, in the same mode (``reverse:URL``, same listen host), both
with ``connection_strategy=lazy`` (dspscope proxy's default)."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.bench.common import BIN, HOST, Children, wait_for_port
from tests.helpers import free_port

PROXIES = ("mitmdump", "dspscope")
#: Plain mitmdump, mitmdump writing every flow (-w: the fair peer of a
#: capturing proxy), and dspscope proxy with everything on.
PEERS = ("mitmdump", "mitmdump-w", "dspscope")


@dataclass
class Endpoint:
    """A running program: its process and where to reach it."""

    name: str
    proc: object  # subprocess.Popen
    url: str  # base URL devices use (the discovery address for a server)
    port: int
    pid: int
    workdir: Path
    #: Where a device's event sink must listen, and the address its
    #: subscription must name, for events to cross this proxy (mitmdump:
    #: a second reverse listener in front of the sink; dspscope proxy
    #: rewrites any NotifyTo to its own event listener by itself).
    sink_port: int = 0
    notify_origin: str | None = None


def start_server(children: Children, workdir: Path, *, tls: bool) -> Endpoint:
    """The simulated scan server (its TLS certificate made under ``workdir``)."""
    port = free_port()
    args = [sys.executable, "-m", "dspscope", "sim", "server", "--port", str(port), "-q"]
    if not tls:
        args.append("--no-tls")
    proc = children.start(args, log=workdir / f"server-{port}.log",
                          env={"DSPSCOPE_HOME": str(workdir / "home")})
    wait_for_port(port, proc)
    scheme = "https" if tls else "http"
    return Endpoint("server", proc, f"{scheme}://{HOST}:{port}/ScanServer", port, proc.pid, workdir)


def origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def start_proxy(children: Children, which: str, upstream: str, workdir: Path, *,
                capture: bool = True, extra: tuple[str, ...] = ()) -> Endpoint:
    """``dspscope proxy`` (decode, tracking, --save, --jsonl; no rules) or
    plain ``mitmdump``, in reverse mode in front of ``upstream``.  Both carry
    the server's events to the device's sink, so both carry the same traffic."""
    port = free_port()
    sink_port, notify_origin = 0, None
    confdir = workdir / "confdir"  # one CA for both: certificates cost the same
    confdir.mkdir(exist_ok=True)
    tag = f"{which}-{port}"
    if which == "dspscope":
        args = [sys.executable, "-m", "dspscope", "proxy", "--upstream", origin(upstream),
                "--listen-host", HOST, "--listen-port", str(port),
                "--events-port", str(free_port()), "--insecure", "--confdir", str(confdir)]
        if capture:
            args += ["--save", str(workdir / f"{tag}.mitm"), "--jsonl", str(workdir / f"{tag}.jsonl"),
                     "--rotate-size", "256m"]
    elif which in ("mitmdump", "mitmdump-w"):
        sink_port, events_port = free_port(), free_port()
        notify_origin = f"http://{HOST}:{events_port}"
        args = [str(BIN / "mitmdump"), "--mode", f"reverse:{origin(upstream)}",
                "--mode", f"reverse:http://{HOST}:{sink_port}@{events_port}",
                "--listen-host", HOST, "--listen-port", str(port), "--ssl-insecure",
                "--set", f"confdir={confdir}", "--set", "connection_strategy=lazy"]
        if which == "mitmdump-w":
            args += ["-w", str(workdir / f"{tag}.mitm")]
    else:
        raise ValueError(f"no proxy {which!r}")
    proc = children.start([*args, *extra], log=workdir / f"{tag}.log",
                          env={"DSPSCOPE_HOME": str(workdir / "home")})
    wait_for_port(port, proc)
    scheme = upstream.partition("://")[0]
    path = upstream.partition("://")[2].partition("/")[2]
    return Endpoint(which, proc, f"{scheme}://{HOST}:{port}/{path}", port, proc.pid, workdir,
                    sink_port, notify_origin)


def drop_segments(endpoint: Endpoint) -> None:
    """Delete the finished (rotated) capture segments of a proxy, and cut
    mitmdump -w's single file back to nothing (what it writes next leaves a
    hole, which takes no disk): a long run must not fill the disk."""
    for path in endpoint.workdir.glob(f"{endpoint.name}-{endpoint.port}-*.*"):
        path.unlink(missing_ok=True)
    if endpoint.name == "mitmdump-w":
        with contextlib.suppress(OSError):
            os.truncate(endpoint.workdir / f"{endpoint.name}-{endpoint.port}.mitm", 0)
