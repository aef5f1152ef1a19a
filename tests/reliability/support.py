"""The pieces every reliability test needs: ``dspscope proxy`` as a real
process, an upstream that records the bytes it receives, and a client that
sends exactly the bytes it is given.

Everything is synchronous and thread-based, so one proxy can serve a whole
test module (module-scoped fixtures) whatever event loop a test runs in.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import socketserver
import struct
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mitmproxy import exceptions as mitm_exceptions
from mitmproxy import io as mitm_io

from tests.helpers import Process, free_port

ROOT = Path(__file__).resolve().parents[2]
#: Header that tags a request so the upstream's copy can be found again.
TAG = "x-reliability-tag"
#: Header that tells the recording upstream how to answer.
ANSWER = "x-reliability-answer"
#: What the suite tried, printed at the end of the run (conftest.py).
TRIED: Counter[str] = Counter()


def count(what: str, n: int = 1) -> None:
    TRIED[what] += n


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


# ---------------------------------------------------------------- the proxy


class Proxy(Process):
    """``dspscope proxy`` in reverse mode as a child process, output in files."""

    def __init__(self, home: Path, upstream: str, *extra: str, save: bool = True,
                 jsonl: bool = True, listen_host: str | None = "127.0.0.1",
                 name: str = "proxy") -> None:
        self.home = home
        self.port = free_port()
        self.capture = home / "cap.mitm"
        self.records_path = home / "cap.jsonl"
        argv = [sys.executable, "-m", "dspscope", "proxy", "--upstream", upstream,
                "--listen-port", str(self.port), "--events-port", str(free_port())]
        if listen_host is not None:
            argv += ["--listen-host", listen_host]
        if save:
            argv += ["--save", str(self.capture)]
        if jsonl:
            argv += ["--jsonl", str(self.records_path)]
        argv += list(extra)
        super().__init__(argv, home, name, env={"DSPSCOPE_HOME": str(home)})

    def started(self, timeout: float = 60.0) -> Proxy:
        self.wait_for("dspscope proxy: listening on", timeout)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60.0) -> int:
        return super().stop(sig, timeout)

    def records(self) -> list[dict[str, Any]]:
        """Every JSONL record written so far; fails on any line that is not
        JSON.  A last line without its newline is a record still being
        written (large ones are written by a worker thread) and is left out."""
        text = self.records_path.read_text()
        return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]

    def flows(self) -> list[Any]:
        with open(self.capture, "rb") as fh:
            return list(mitm_io.FlowReader(fh).stream())


def read_flows_tolerant(path: Path) -> tuple[list[Any], str | None]:
    """Flows of a capture up to the first unreadable record, and what broke."""
    flows: list[Any] = []
    with open(path, "rb") as fh:
        try:
            for flow in mitm_io.FlowReader(fh).stream():
                flows.append(flow)
        except mitm_exceptions.FlowReadException as exc:
            return flows, str(exc) or "torn"
    return flows, None


# ------------------------------------------------------- recording upstream


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    chunked: bool

    @property
    def tag(self) -> str | None:
        return self.headers.get(TAG)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        upstream = self.server.owner
        with upstream.lock:
            upstream.connections += 1
        try:
            while self._one():
                pass
        except (OSError, ValueError, http.client.HTTPException):
            return

    def _one(self) -> bool:
        line = self.rfile.readline(65537)
        if not line:
            return False
        method, target, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        body = self._chunked() if chunked else self.rfile.read(int(headers.get("content-length", 0)))
        received = Received(method, target, headers, body, chunked)
        upstream = self.server.owner
        with upstream.lock:
            upstream.received.append(received)
        return self._answer(received)

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _answer(self, received: Received) -> bool:
        how = received.headers.get(ANSWER, "echo")
        if how == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if how == "close":
            return False
        body = received.body if how == "echo" else b""
        ctype = received.headers.get("content-type", "application/octet-stream")
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n")
        self.wfile.write(head.encode("latin-1") + body)
        self.wfile.flush()
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: Upstream


class Upstream:
    """An HTTP/1.1 server on 127.0.0.1 that keeps every request it receives,
    byte for byte (chunked bodies joined), and answers as the request's
    ``x-reliability-answer`` header says: ``echo`` (default: the same body
    and Content-Type back), ``empty``, ``close`` (no answer) or ``reset``
    (TCP RST instead of an answer)."""

    def __init__(self, port: int = 0) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.connections = 0
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def by_tag(self, tag: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.tag == tag]


class Listener:
    """A TCP listener that only counts the connections it gets (the target
    of an XXE network entity: it must never hear from anyone)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


# ------------------------------------------------------------------ clients


@dataclass
class Reply:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None


def request_bytes(body: bytes, *, content_type: str | None, tag: str, path: str = "/ScanServer",
                  host: str = "127.0.0.1", answer: str = "echo",
                  extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A well-framed POST (Content-Length) carrying ``body``."""
    lines = [f"POST {path}?tag={tag} HTTP/1.1", f"Host: {host}", f"{TAG}: {tag}", f"{ANSWER}: {answer}",
             f"Content-Length: {len(body)}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def raw_exchange(port: int, data: bytes, *, timeout: float = 60.0, half_close: bool = False) -> Reply:
    """Send ``data`` on a fresh connection and read one HTTP response (or
    what happened instead)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            response = http.client.HTTPResponse(sock)
            response.begin()
            body = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        except (OSError, http.client.HTTPException) as exc:
            return Reply(None, error=f"{type(exc).__name__}: {exc}")


def post(port: int, body: bytes, content_type: str | None, tag: str, **kw: Any) -> Reply:
    return raw_exchange(port, request_bytes(body, content_type=content_type, tag=tag, **kw))


@contextlib.contextmanager
def many_sockets(port: int, count: int) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        yield socks
    finally:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()
