"""Rule files shipped with dspscope (rules/presets/NAME.yaml).

Each preset starts with a block of ``#`` comments: its first line is the
one-line summary, the rest says what it does and how to use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PRESET_DIR = Path(__file__).resolve().parent / "presets"


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    path: Path
    summary: str
    description: str


def list_presets() -> list[Preset]:
    """Every shipped preset, by name."""
    return [_read(path) for path in sorted(PRESET_DIR.glob("*.yaml"))]


def find_preset(name: str) -> Preset:
    """A preset by name (with or without .yaml); KeyError names the choices."""
    wanted = name.removesuffix(".yaml")
    for preset in list_presets():
        if preset.name == wanted:
            return preset
    raise KeyError(f"no preset {name!r}; presets: {', '.join(p.name for p in list_presets())}")


def _read(path: Path) -> Preset:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].removeprefix(" "))
    text = "\n".join(lines).strip()
    summary = text.splitlines()[0] if text else ""
    return Preset(path.stem, path, summary, text)
