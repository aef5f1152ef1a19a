"""Real processes for the replay tests: the dspscope CLI (sim, proxy,
replay) and stock mitmdump, each on an ephemeral loopback port, logging to a
file that the tests read to learn the port (tests/helpers.py's Process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import Process

MITMDUMP = Path(sys.executable).with_name("mitmdump")


class Proc(Process):
    """A child process whose output the tests read (both streams)."""

    def text(self) -> str:
        return self.stdout + self.stderr


class Processes:
    """Starts dspscope commands and mitmdump; stops whatever is left."""

    def __init__(self, workdir: Path, home: Path) -> None:
        self.workdir = workdir
        self.env = {**os.environ, "DSPSCOPE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
        self.started: list[Proc] = []
        self._count = 0

    def start(self, *args: str, program: list[str] | None = None) -> Proc:
        self._count += 1
        name = args[0] if program else "-".join(args[:2])
        command = (program or [sys.executable, "-m", "dspscope"]) + list(args)
        proc = Proc(command, self.workdir, f"{self._count:02d}-{name}", env=self.env)
        self.started.append(proc)
        return proc

    def run(self, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        """A dspscope command to completion."""
        return subprocess.run([sys.executable, "-m", "dspscope", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, cwd=self.workdir)

    def sim_server(self) -> tuple[Proc, str]:
        """A fresh simulated server (TLS); returns it and its origin."""
        proc = self.start("sim", "server", "--port", "0", "--quiet")
        url = proc.wait_for(r"listening on (https://\S+)/ScanServer").group(1)
        return proc, url

    def proxy(self, upstream: str, *extra: str, quiet: bool = True) -> tuple[Proc, str]:
        """A proxy in front of ``upstream``; ``quiet=False`` prints a line per exchange."""
        proc = self.start("proxy", "--upstream", upstream, "--listen-port", "0", "--events-port", "0",
                          "--insecure", *(["-q"] if quiet else []), *extra)
        port = proc.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1)
        return proc, f"https://127.0.0.1:{port}"

    def replay_server(self, *captures: Path, extra: tuple[str, ...] = ()) -> tuple[Proc, str]:
        proc = self.start("replay", "server", *map(str, captures), "--listen-port", "0", *extra)
        found = proc.wait_for(r"listening on (https://[^/\s]+)(\S*)")
        assert found.group(2) == "/ScanServer", found.group(0)  # the recorded discovery path
        return proc, found.group(1)

    def mitmdump(self, upstream: str, save: Path) -> tuple[Proc, str]:
        """Stock mitmdump in reverse mode, writing a capture without our addons.
        keep_host_header: the server then advertises the proxy's address, so
        the device stays on the proxy (as address rewriting does for ours)."""
        proc = self.start(
            "--mode", f"reverse:{upstream}", "--listen-host", "127.0.0.1", "-p", "0",
            "--ssl-insecure", "--set", "keep_host_header=true",
            "--set", f"confdir={self.workdir / 'mitmdump-conf'}", "-w", str(save),
            program=[str(MITMDUMP)],
        )
        port = proc.wait_for(r"listening at 127\.0\.0\.1:(\d+)").group(1)
        return proc, f"https://127.0.0.1:{port}"

    def device(self, server: str, *extra: str) -> list[dict[str, Any]]:
        """A simulated device run to completion: one JSON object per job."""
        done = self.run("sim", "device", "--server", server + "/ScanServer", "--insecure",
                        "--image-size", "3000", "--event-timeout", "15", "--json", *extra)
        jobs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        assert jobs, f"device printed no jobs (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        return jobs

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.close()
