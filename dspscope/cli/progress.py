"""A progress bar over capture files, on a terminal only (rich.progress)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence

Advance = Callable[[str], Callable[[int, int], None] | None]


@contextlib.contextmanager
def progress_bar(paths: Sequence[str], *, enabled: bool = True) -> Iterator[Advance]:
    """Yields ``advance(path)``, which gives the ``progress(done, total)``
    callback for reading one file (None when there is no bar)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _path: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    total = 0
    for path in paths:
        with contextlib.suppress(OSError):
            total += os.path.getsize(path)
    bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
                   TimeRemainingColumn(), transient=True)
    offset = 0

    def advance(path: str) -> Callable[[int, int], None]:
        nonlocal offset
        base = offset
        with contextlib.suppress(OSError):
            offset += os.path.getsize(path)
        bar.update(task, description=os.path.basename(path), completed=base)
        return lambda done, _total: bar.update(task, completed=base + done)

    with bar:
        task = bar.add_task("reading", total=total or None)
        yield advance
