"""``?``: the keys of every part of the viewer, and the filter language.

Nothing here lists them by hand: each screen and widget of the viewer (the
modules of ``viewer.screens`` and ``viewer.widgets``) that declares
BINDINGS is a group, titled by its ``HELP_TITLE``; the app's own bindings
come first, then the screen help was opened from and its widgets, then the
others.  A key added to a class shows here by itself."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Iterator

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from dspscope.viewer import filters, screens, widgets

#: Keys that are not bindings of ours (Textual's own, and the mouse).
EXTRA_KEYS = (
    ("everywhere", "ctrl+p", "command palette (every action by name)"),
    ("everywhere", "tab / shift+tab", "move between the list, the detail and the filter bar"),
    ("everywhere", "mouse", "click a row to select it, double-click to open it; click tabs"),
    ("lists", "up/down, j/k, pgup/pgdn, home/end", "move the cursor"),
    ("exchanges", "enter", "the exchange's detail, full height (escape: back to the list); "
     "a paused one opens in the intercept editor"),
)


def title_of(owner: type) -> str:
    return str(owner.__dict__.get("HELP_TITLE") or owner.__name__)


def own_bindings(owner: type) -> list[Binding]:
    """The bindings ``owner`` itself declares (not those it inherits)."""
    declared: list[BindingType] = list(owner.__dict__.get("BINDINGS", ()))
    return [b if isinstance(b, Binding) else Binding(*b) for b in declared]


def viewer_classes() -> Iterator[type[DOMNode]]:
    """Every screen and widget class of the viewer, module by module."""
    for package in (screens, widgets):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for _name, value in inspect.getmembers(module, inspect.isclass):
                if issubclass(value, DOMNode) and value.__module__ == module.__name__:
                    yield value


def _declaring(classes: Iterable[type]) -> Iterator[type]:
    """Each class and its viewer base classes that declare BINDINGS."""
    for cls in classes:
        for base in reversed(cls.__mro__):
            if base.__module__.startswith("dspscope.viewer.") and own_bindings(base):
                yield base


def binding_groups(app: type, here: Screen[object] | None = None) -> list[tuple[str, list[Binding]]]:
    """(title, bindings) of the app, then of ``here`` and its widgets, then of the rest."""
    near: list[type] = []
    if here is not None:
        near = [type(here), *(type(node) for node in here.walk_children())]
    order = dict.fromkeys([app, *_declaring(near), *_declaring(viewer_classes())])
    return [(title_of(owner), own_bindings(owner)) for owner in order
            if own_bindings(owner) and owner is not HelpScreen]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close help")]
    CSS_PATH = "help.tcss"

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._keys(), id="help-keys")
            yield Static(self._language(), id="help-filter")

    def _keys(self) -> Table:
        table = Table(title="Keys", title_justify="left", expand=True, show_edge=False,
                      title_style="bold")
        table.add_column("where", style="dim", no_wrap=True, width=20)
        table.add_column("key", style="bold", no_wrap=True, width=22)
        table.add_column("does", ratio=1)
        for where, key, does in EXTRA_KEYS:
            table.add_row(where, key, does)
        beneath = [s for s in self.app.screen_stack if s is not self]
        here = beneath[-1] if beneath else None
        for title, bindings in binding_groups(type(self.app), here):
            for binding in bindings:
                keys = ", ".join(self.app.get_key_display(Binding(k.strip(), binding.action))
                                 for k in binding.key.split(","))
                table.add_row(title, keys, binding.description or binding.action)
        return table

    def _language(self) -> Text:
        doc = (filters.__doc__ or "").split("Parsing is pure")[0].strip()
        text = Text("\nFilter language (the filter bar, and intercept)\n\n", style="bold")
        text.append(doc.replace("``", ""))
        return text
