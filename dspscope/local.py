"""Facts of the machine dspscope runs on, shared by the commands, the
simulators and the viewer: where its files live and a free port."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def config_dir() -> Path:
    """$DSPSCOPE_HOME, else $XDG_CONFIG_HOME/dspscope, else ~/.config/dspscope."""
    home = os.environ.get("DSPSCOPE_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "dspscope"


def free_port(host: str) -> int:
    """A TCP port nobody listens on at ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host or "0.0.0.0", 0))
        return int(sock.getsockname()[1])
