from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from dspscope.viewer.app import DspscopeApp
from dspscope.viewer.sources import FlowsSource
from tests.viewer.factory import sample

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Times on screen are local: make local UTC so screens are the same everywhere."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def sample_app(jobs: int = 4) -> DspscopeApp:
    return DspscopeApp(FlowsSource(sample(jobs).flows, "sample capture"))
