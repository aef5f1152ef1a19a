"""Print what the reliability suite tried (counts of inputs, exchanges and
faults) at the end of the run."""

from __future__ import annotations

import pytest

from tests.reliability.support import TRIED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TRIED:
        return
    terminalreporter.section("dspscope reliability: what was tried")
    for what, n in sorted(TRIED.items()):
        terminalreporter.write_line(f"{n:>8}  {what}")
