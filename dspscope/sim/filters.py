"""What the simulated server does after EndPostScanJob: the job's filters,
in order, each reported as it starts and as it ends.

The file-share filter moves the staged images into the store (when the
server has one); e-mail and SharePoint succeed without doing anything; a
filter dialect the server does not know ends CompletedWithErrors
(UnknownError), which aborts the job unless ContinueOnError says otherwise.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable

from dspscope.sim.jobs import ServerJob
from dspscope.sim.store import ImageStore
from dspscope.wsdsp import names

SIMULATED = frozenset({names.EMAIL, names.SHAREPOINT})


class FilterRunner:
    def __init__(
        self,
        store: ImageStore | None,
        *,
        report: Callable[[ServerJob], None],
        log: Callable[[str], None],
        delay: float = 0.0,
    ) -> None:
        self.store = store
        self.report = report
        self.log = log
        self.delay = delay

    async def run(self, job: ServerJob) -> None:
        """Run every filter (or up to the first failure); the job is not completed here."""
        if self.delay:
            await asyncio.sleep(self.delay)
        stored = False
        for index, run in enumerate(job.filters):
            if job.should_stop():
                break
            job.filter_started(index)
            self.report(job)
            problem: str | None = None
            if run.dialect == names.FILESHARE:
                if not stored:
                    problem = await self._file(job)
                    stored = True
            elif run.dialect not in SIMULATED:
                problem = "UnknownError"
            job.filter_done(index, problem)
            self.report(job)
        if not stored:
            await self.discard(job)

    async def discard(self, job: ServerJob) -> None:
        """Forget the staged images of a job whose files will never be filed."""
        if self.store is not None:
            staged = [d.staged for d in job.documents if d.staged]
            await asyncio.to_thread(self.store.discard, staged)

    async def _file(self, job: ServerJob) -> str | None:
        if self.store is None:
            return None
        staged = [(d.staged, d.format) for d in job.documents if d.staged]
        try:
            paths = await asyncio.to_thread(self.store.commit, job.user, job.document_root, staged)
        except OSError as exc:
            await self.discard(job)
            full = exc.errno == errno.ENOSPC
            return "FileShareOutOfDiskSpace" if full else "FileShareAccessDenied"
        for document, path in zip((d for d in job.documents if d.staged), paths, strict=True):
            document.staged = None
            self.log(f"job {job.short}: stored {path}")
        return None
