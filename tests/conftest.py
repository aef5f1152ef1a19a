from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.helpers import Processes

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
pytest_plugins = ["pytester"]
_STARTED = pytest.StashKey[Processes]()


@pytest.fixture(scope="session")
def spec_dir() -> Path:
    """The published example pages, copied into the repository (see
    tests/data/README.md for their source and licence)."""
    return DATA


@pytest.fixture
def processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Processes]:
    """Real child processes for one test (tests/helpers.py): their output
    goes to files in tmp_path, is shown when the test fails, and every one
    still running is stopped (SIGTERM, then SIGKILL) when the test ends."""
    started = Processes(tmp_path)
    request.node.stash[_STARTED] = started
    try:
        yield started
    finally:
        started.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    started = item.stash.get(_STARTED, None)
    if report.failed and started is not None and started.started:
        report.sections.append(("processes started by the test", started.output()))
