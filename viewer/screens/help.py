"""``?``: every key of every part of the viewer, and the filter language.

The key list is read from the BINDINGS of the classes themselves, so it
cannot drift from what the keys really do."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dspscope.viewer import filters

EXTRA_KEYS = (
    ("everywhere", "ctrl+p", "command palette (every action by name)"),
    ("everywhere", "tab / shift+tab", "move between the list, the detail and the filter bar"),
    ("everywhere", "mouse", "click a row to select it, double-click to open it; click tabs"),
    ("lists", "up/down, j/k, pgup/pgdn, home/end", "move the cursor"),
    ("exchanges", "enter", "the exchange's detail, full height (escape: back to the list); "
     "a paused one opens in the intercept editor"),
)


def binding_groups() -> list[tuple[str, list[Binding]]]:
    from dspscope.viewer.app import DspscopeApp
    from dspscope.viewer.screens.intercept import InterceptScreen
    from dspscope.viewer.screens.job import JobScreen
    from dspscope.viewer.screens.main import MainScreen
    from dspscope.viewer.screens.replay import ReplayScreen
    from dspscope.viewer.widgets.attachments import Attachments
    from dspscope.viewer.widgets.filter_bar import FilterBar
    from dspscope.viewer.widgets.row_list import RowList
    from dspscope.viewer.widgets.rules_panel import RuleList

    groups: list[tuple[str, list[Binding]]] = []
    for title, owner in (
        ("everywhere", DspscopeApp),
        ("main screen", MainScreen),
        ("lists (exchanges, jobs, timeline)", RowList),
        ("attachments tab", Attachments),
        ("filter bar", FilterBar),
        ("rules view", RuleList),
        ("job timeline", JobScreen),
        ("intercept editor", InterceptScreen),
        ("replay", ReplayScreen),
    ):
        found = [b for b in owner.BINDINGS if isinstance(b, Binding)]
        found += [Binding(*b) for b in owner.BINDINGS if isinstance(b, tuple)]
        groups.append((title, found))
    return groups


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close help")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100; max-width: 96%; height: 90%;
                                  border: thick $primary; background: $surface; padding: 0 1; }
    """

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
        for title, bindings in binding_groups():
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
