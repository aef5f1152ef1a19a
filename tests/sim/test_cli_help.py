"""What --help teaches must be where things are."""

from __future__ import annotations

from pathlib import Path

import pytest

from dspscope.cli import main
from dspscope.local import config_dir


def test_sim_help_names_the_proxy_ca_where_the_proxy_keeps_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DSPSCOPE_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SystemExit):
        main(["sim", "--help"])
    text = capsys.readouterr().out
    assert ".mitmproxy" not in text
    named = next(word for word in text.split() if word.endswith("mitmproxy-ca-cert.pem"))
    assert Path(named).expanduser() == config_dir() / "mitmproxy" / "mitmproxy-ca-cert.pem"
