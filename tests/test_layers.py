"""The import contract: which layer may import which (README, Layout).

Every module of every layer is read (imports inside functions too, since
they still tie the layers together), and the wsdsp layer is also imported
in a fresh interpreter to see what it really loads."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dspscope"
LAYERS = ("wsdsp", "rules", "addons", "sim", "replay", "viewer", "cli")
IO_AND_UI = ("mitmproxy", "textual", "aiohttp", "asyncio", "ssl", "h11", "httpx", "socket")

#: layer -> what it must not import (dspscope layers by short name).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "wsdsp": (*IO_AND_UI, "rules", "addons", "sim", "replay", "viewer", "cli", "local", "exports"),
    "rules": (*IO_AND_UI, "addons", "sim", "replay", "viewer", "cli", "local", "exports"),
    "addons": ("textual", "viewer", "cli", "sim", "replay"),
    "sim": ("textual", "mitmproxy", "viewer", "cli", "addons"),
    "replay": ("textual", "viewer", "cli"),
    "viewer": ("cli",),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for folder, _dirs, files in os.walk(PACKAGE, followlinks=True):  # into the linked folders
        for file in sorted(f for f in files if f.endswith(".py")):
            found[module_name(Path(folder) / file)] = Path(folder) / file
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Absolute names of everything ``path`` imports, anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def short(imported: str) -> str:
    """'dspscope.rules.engine' -> 'rules'; 'mitmproxy.http' -> 'mitmproxy'."""
    parts = imported.split(".")
    return parts[1] if parts[0] == "dspscope" and len(parts) > 1 else parts[0]


def layer_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_layer_is_found() -> None:
    assert {layer_of(name) for name in modules()} >= set(LAYERS)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_is_below_it(layer: str) -> None:
    broken = []
    for name, path in modules().items():
        if layer_of(name) != layer:
            continue
        for imported in imports_of(name, path):
            if short(imported) in FORBIDDEN[layer]:
                broken.append(f"{name} imports {imported}")
    assert broken == []


def test_wsdsp_has_no_import_cycle() -> None:
    graph = {name: {i for i in imports_of(name, path) if i in modules() and layer_of(i) == "wsdsp"}
             for name, path in modules().items() if layer_of(name) == "wsdsp"}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            # a package importing its own submodules is not a cycle
            if nxt.startswith(node + "."):
                continue
            visit(nxt, [*stack, node], done)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        visit(start, [], done)
    assert cycles == []


@pytest.mark.parametrize("layer", ["wsdsp", "rules"])
def test_pure_layers_load_no_io_or_ui_module(layer: str) -> None:
    names = sorted(name for name in modules() if layer_of(name) == layer)
    code = f"import json, sys\nfor n in {names!r}: __import__(n)\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = json.loads(out.stdout)
    # (socket itself is imported by the standard e-mail header parser: allowed
    # at run time, never imported by the layer's own code, as checked above.)
    bad = [m for m in loaded if m.split(".")[0] in IO_AND_UI and m.split(".")[0] != "socket"]
    assert bad == []


def test_one_import_name() -> None:
    top = Path(__file__).resolve().parents[1]
    # the card's folders are the homes of the linked subpackages
    for folder in ("addons", "viewer", "rules"):
        assert (PACKAGE / folder).resolve() == top / folder
