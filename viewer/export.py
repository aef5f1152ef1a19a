"""Export the session's exchanges with the proxy's own writers
(``dspscope export``): JSON Lines records or HAR."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dspscope.exports import output_file, write_har, write_jsonl
from dspscope.viewer.session import Session
from dspscope.viewer.store import Row

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".har": "har"}


def export(session: Session, rows: Sequence[Row], path: Path) -> int:
    """Write the finished exchanges of ``rows``; the format follows the suffix."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path.name}: use a .jsonl or .har file name")
    flows = [flow for row in rows if not row.pending and (flow := session.flow(row)) is not None]
    with output_file(path) as out:  # scans and personal data: owner-only
        if kind == "har":
            write_har(flows, out)
        else:
            write_jsonl(flows, out)
    return len(flows)
