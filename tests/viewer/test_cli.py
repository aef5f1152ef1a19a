"""dspscope demo / tui / open: arguments to the right source, user errors as
one line and exit status 2 (the app itself is replaced: no terminal here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dspscope.cli import main
from dspscope.viewer.app import DspscopeApp
from dspscope.viewer.demo import DemoSource
from dspscope.viewer.live import LiveSource
from dspscope.viewer.sources import CaptureSource


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    sources: list[Any] = []

    def run(self: DspscopeApp, *args: Any, **kwargs: Any) -> None:
        sources.append(self.source)

    monkeypatch.setattr(DspscopeApp, "run", run)
    return sources


def test_no_arguments_runs_the_demo(started: list[Any]) -> None:
    assert main([]) == 0
    assert len(started) == 1 and isinstance(started[0], DemoSource)


def test_tui_takes_the_proxy_options(started: list[Any], tmp_path: Path) -> None:
    assert main(["tui", "--upstream", "https://scan.test:5362", "--listen-port", "0",
                 "--confdir", str(tmp_path), "--save", str(tmp_path / "s.mitm")]) == 0
    source = started[0]
    assert isinstance(source, LiveSource) and not isinstance(source, DemoSource)
    assert source.options["mode"][0] == "reverse:https://scan.test:5362"
    assert source.options["dspscope_save"] == str(tmp_path / "s.mitm")


def test_open_takes_captures(started: list[Any], tmp_path: Path) -> None:
    capture = tmp_path / "a.mitm"
    capture.write_bytes(b"")
    assert main(["open", str(capture)]) == 0
    assert isinstance(started[0], CaptureSource) and started[0].paths == [str(capture)]


def test_open_takes_what_replay_trusts(started: list[Any], tmp_path: Path) -> None:
    import ssl

    from dspscope.sim.tls import default_certificate

    capture = tmp_path / "a.mitm"
    capture.write_bytes(b"")
    assert main(["open", str(capture)]) == 0
    assert main(["open", str(capture), "--insecure"]) == 0
    cert, _key = default_certificate(tmp_path / "tls")
    assert main(["open", str(capture), "--cafile", str(cert)]) == 0
    default, insecure, cafile = (source.replay_tls for source in started)
    assert default is True and insecure is False
    assert isinstance(cafile, ssl.SSLContext) and cafile.get_ca_certs()


@pytest.mark.parametrize(("argv", "words"), [
    (["open", "/nonexistent/x.mitm"], "does not exist"),
    (["tui"], "--upstream"),
    (["open", __file__, "--cafile", __file__], "cannot load trusted certificates"),
    (["demo", "--images", "0"], "at least 1"),
])
def test_user_errors_are_one_line(argv: list[str], words: str, started: list[Any],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and started == []
