from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def spec_dir() -> Path:
    """The published example pages, copied into the repository (see
    tests/data/README.md for their source and licence)."""
    return DATA
