from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from dspscope.sim.server import ScanServer
from tests.sim.support import Client


@pytest.fixture(scope="session")
def sim_home_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One config directory per session: the self-signed certificate is made once."""
    return tmp_path_factory.mktemp("dspscope-home")


@pytest.fixture(autouse=True)
def sim_home(sim_home_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DSPSCOPE_HOME", str(sim_home_dir))
    return sim_home_dir


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ScanServer]:
    """A plain-HTTP simulated server on an ephemeral loopback port, storing to tmp_path/store."""
    async with ScanServer(port=0, tls_on=False, store=tmp_path / "store") as running:
        yield running


@pytest.fixture
async def client(server: ScanServer) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, server)
