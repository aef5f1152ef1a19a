from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "spec"


@pytest.fixture(scope="session")
def spec_dir() -> Path:
    if not (SPEC / "dsm-docs").is_dir():
        pytest.skip("../shared/spec is not beside the checkout")
    return SPEC
