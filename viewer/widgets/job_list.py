"""The jobs list: one line per post-scan job the tracker followed."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style

from dspscope.viewer import format as fmt
from dspscope.viewer.store import Store
from dspscope.viewer.widgets.row_list import Cell, Column, RowList, cell
from dspscope.wsdsp.jobs import Job, JobState


def outcome_of(job: Job) -> str:
    if job.outcome:
        return job.outcome
    if job.faults:
        return job.faults[-1]
    return ""


class JobList(RowList):
    """Jobs in order of creation."""

    COLUMNS = (
        Column("created", 12),
        Column("device", 15),
        Column("job", 8),
        Column("user", 18),
        Column("scan process", 14),
        Column("state", 9),
        Column("images", 6, right=True),
        Column("duration", 8, right=True),
        Column("outcome", 0),
    )

    def __init__(self, store: Store, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.store = store
        self.jobs: list[Job] = []
        self._seen_changes = -1

    def sync(self, *, force: bool = False) -> None:
        if not force and self.store.jobs_changed == self._seen_changes:
            return
        self._seen_changes = self.store.jobs_changed
        self.jobs = self.store.jobs()
        self.set_count(len(self.jobs), changed=True)

    def current(self) -> Job | None:
        return self.jobs[self.cursor] if 0 <= self.cursor < len(self.jobs) else None

    def row_style(self, position: int) -> Style | None:
        job = self.jobs[position]
        if job.state is JobState.FAILED or job.faults or (job.outcome and job.outcome != "Completed"):
            return self.get_component_rich_style("row-list--fault", partial=True)
        if job.state in (JobState.OPEN, JobState.CREATING):
            return self.get_component_rich_style("row-list--accent", partial=True)
        return None

    def render_row(self, position: int) -> Sequence[Cell]:
        job = self.jobs[position]
        images = str(job.images)
        if job.images_reported is not None and job.images_reported != job.images:
            images = f"{job.images}≠{job.images_reported}"
        duration = (job.ended_at or job.updated_at) - job.created_at
        return (
            (fmt.clock(job.created_at), None),
            cell(job.device),
            cell(job.short_token if job.token else "—"),
            cell(job.user),
            cell(job.psp_id if job.protocol == "ws-dsp" else f"WS-Scan {job.source or ''}"),
            (job.state.value, None),
            (images, None),
            (fmt.seconds(duration), None),
            cell(outcome_of(job)),
        )
