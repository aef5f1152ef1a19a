"""Two captures made once per session with real processes:

* ``recorded``: simulated device (subscribed, 2 jobs of 2 pages) -> ``dspscope
  proxy --save`` -> simulated server.  Our metadata, events relayed.
* ``stock``: simulated device (polling, 1 job) -> stock ``mitmdump -w`` in
  reverse mode -> simulated server.  No dspscope metadata, no events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.replay.support import Processes


@dataclass
class Session:
    capture: Path
    jobs: list[dict[str, Any]]


@pytest.fixture(scope="session")
def replay_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replay-home")


@pytest.fixture
def procs(tmp_path: Path, replay_home: Path) -> Iterator[Processes]:
    running = Processes(tmp_path, replay_home)
    try:
        yield running
    finally:
        running.stop_all()


def _record(work: Path, home: Path, through: str, *device_args: str) -> Iterator[Session]:
    """A simulated device's session with a simulated server, captured by
    ``through`` ("proxy" or "mitmdump") into WORK/session.mitm."""
    running = Processes(work, home)
    capture = work / "session.mitm"
    try:
        _, server = running.sim_server()
        if through == "proxy":
            recorder, address = running.proxy(server, "--save", str(capture))
        else:
            recorder, address = running.mitmdump(server, capture)
        jobs = running.device(address, *device_args)
        assert all(job["ok"] for job in jobs), jobs
        assert recorder.stop() == 0, recorder.text()
        yield Session(capture, jobs)
    finally:
        running.stop_all()


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory, replay_home: Path) -> Iterator[Session]:
    yield from _record(tmp_path_factory.mktemp("recorded"), replay_home, "proxy",
                       "--subscribe", "--jobs", "2", "--images", "2", "--seed", "7")


@pytest.fixture(scope="session")
def stock(tmp_path_factory: pytest.TempPathFactory, replay_home: Path) -> Iterator[Session]:
    yield from _record(tmp_path_factory.mktemp("stock"), replay_home, "mitmdump",
                       "--jobs", "1", "--images", "2", "--seed", "8")
