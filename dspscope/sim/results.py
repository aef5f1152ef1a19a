"""What a simulated device run produces: options in, one JobResult per job
and a running Summary out.  Plain data, shared by the device, the CLI and
anyone embedding the device (tests, demo, benchmarks)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class DeviceOptions:
    """How the simulated device behaves (the CLI flags of ``dspscope sim device``)."""

    server: str
    jobs: int = 1
    images: int = 3
    concurrency: int = 1
    image_size: int = 100_000
    format: str = "png"
    subscribe: bool = False
    sink_host: str = "127.0.0.1"
    sink_port: int = 0
    cafile: Path | None = None  # None: system roots + the simulator's own certificate
    insecure: bool = False
    proxy: str | None = None
    source_address: str | None = None  # connect from this address (127.0.0.2: a second device)
    seed: int | None = None
    loop: bool = False
    pause: float = 0.0
    user: str | None = None
    psp_id: str | None = None
    document_root: str = "Scan"
    shares: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    retries: int = 5
    backoff: float = 0.25
    backoff_max: float = 4.0
    event_timeout: float = 30.0
    request_timeout: float = 120.0


@dataclass(slots=True)
class JobResult:
    """One job as the device saw it."""

    index: int
    token: str | None = None
    ok: bool = False
    final_state: str | None = None
    images_sent: int = 0
    images_reported: int | None = None
    bytes_sent: int = 0
    faults: list[str] = field(default_factory=list)
    retries: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    started: float = field(default_factory=time.time)
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.index,
            "token": self.token,
            "ok": self.ok,
            "final_state": self.final_state,
            "images_sent": self.images_sent,
            "images_reported": self.images_reported,
            "bytes_sent": self.bytes_sent,
            "faults": list(self.faults),
            "retries": self.retries,
            "events": self.events,
            "problems": list(self.problems),
            "error": self.error,
            "started": self.started,
            "timings_ms": {k: round(v, 1) for k, v in self.timings.items()},
        }


@dataclass(slots=True)
class Summary:
    """Totals over a run (kept as counters: a --loop run never ends)."""

    jobs: int = 0
    ok: int = 0
    failed: int = 0
    interrupted: int = 0
    images: int = 0
    bytes: int = 0
    retries: int = 0
    problems: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def add(self, result: JobResult) -> None:
        self.jobs += 1
        if result.ok:
            self.ok += 1
        elif result.error == "interrupted":
            self.interrupted += 1
        else:
            self.failed += 1
            self.errors[result.error or f"ended {result.final_state}"] += 1
        self.images += result.images_sent
        self.bytes += result.bytes_sent
        self.retries += result.retries
        self.problems += len(result.problems)
        self.faults.update(result.faults)

    def lines(self) -> list[str]:
        elapsed = time.monotonic() - self.started
        out = [
            f"{self.jobs} job(s): {self.ok} completed, {self.failed} failed"
            + (f", {self.interrupted} interrupted" if self.interrupted else "")
            + f"; {self.images} image(s), {_size(self.bytes)} in {elapsed:.1f} s"
        ]
        if self.faults:
            out.append(
                "faults met: " + ", ".join(f"{k} x{v}" for k, v in self.faults.most_common())
            )
        if self.retries:
            out.append(f"retried {self.retries} request(s) after ServerErrorTemporaryError")
        if self.problems:
            out.append(f"{self.problems} protocol problem(s) seen in server replies (see --json)")
        for error, count in self.errors.most_common(5):
            out.append(f"failed: {error}" + (f" (x{count})" if count > 1 else ""))
        return out


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB"
