"""Progress and results of a simulated device run, for people and programs:
a rich progress bar on a terminal, one plain line per job otherwise, one
JSON object per job on stdout with ``--json``, and the summary at the end.
Server-provided text (fault details) is printed as plain text, never markup.
"""

from __future__ import annotations

import json
import re
import sys
from typing import IO, Any

from dspscope.sim.results import JobResult, Summary

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text from the wire made safe for a terminal: no control characters."""
    return _CONTROL.sub("?", text)


def job_line(result: JobResult) -> str:
    token = (result.token or "--------")[:8]
    total = result.timings.get("total", 0.0)
    faults = f", {len(result.faults)} fault(s)" if result.faults else ""
    if result.ok:
        return (
            f"job {result.index} {token}: {result.final_state}, {result.images_sent} image(s)"
            f"{faults}, {total:.0f} ms"
        )
    why = printable(result.error or "?")
    return f"job {result.index} {token}: FAILED after {result.images_sent} image(s){faults}: {why}"


class Reporter:
    """Receives the device's progress callbacks."""

    def __init__(
        self,
        *,
        jobs: int | None,
        images: int,
        as_json: bool,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        tty: bool | None = None,
    ) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.images_per_job = images
        self._bar: Any = None
        if tty if tty is not None else self.err.isatty():
            self._bar = _Bar(jobs, images, self.err)

    def __call__(self, what: str, result: JobResult) -> None:
        if self._bar is not None:
            self._bar.update(what, result)
        if what != "finished":
            return
        if self.as_json:
            self.out.write(json.dumps(result.to_json()) + "\n")
            self.out.flush()
        elif self._bar is not None:
            self._bar.print(job_line(result))
        else:
            self.out.write(job_line(result) + "\n")
            self.out.flush()

    def close(self, summary: Summary | None) -> None:
        """Stop the bar; print the summary (None: the run never started)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if summary is None:
            return
        stream = self.err if self.as_json else self.out
        for line in summary.lines():
            stream.write(printable(line) + "\n")
        stream.flush()


class _Bar:
    def __init__(self, jobs: int | None, images: int, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(file=stream, markup=False, highlight=False)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.jobs = self.progress.add_task("jobs", total=jobs)
        self.images = self.progress.add_task(
            "images", total=jobs * images if jobs is not None else None
        )
        self.progress.start()

    def update(self, what: str, result: JobResult) -> None:
        if what == "image":
            self.progress.advance(self.images)
        elif what == "finished":
            self.progress.advance(self.jobs)

    def print(self, line: str) -> None:
        from rich.text import Text

        self.progress.console.print(Text(line))

    def stop(self) -> None:
        self.progress.stop()
