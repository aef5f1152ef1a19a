"""The Rules view: the proxy's fault-injection rules with their hit counts;
switch one on or off, reload the rule files, load a preset.

The panel talks to a ``RulesControl`` (viewer.live) that forwards each call
to the proxy's thread; calls run in worker threads so the UI never waits."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from dspscope.viewer.controls import RuleInfo, RulesControl
from dspscope.viewer.safe import literal
from dspscope.viewer.widgets.row_list import Cell, Column, RowList, cell

REFRESH_EVERY = 1.0
HELP_LINE = "space: switch a rule on/off   r: reload the rule files   p: load a preset"


class RuleList(RowList):
    COLUMNS = (Column("on", 3), Column("rule", 24), Column("hits", 7, right=True),
               Column("what it does", 0))
    HELP_TITLE = "rules view"  # its group in the help screen
    BINDINGS = [
        Binding("space,enter", "switch", "On/off"),
        Binding("r", "reload", "Reload rules"),
        Binding("p", "preset", "Load preset"),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rules: list[RuleInfo] = []
        self.follow = False

    def update_rules(self, rules: list[RuleInfo]) -> None:
        if rules != self.rules:
            self.rules = rules
            self.set_count(len(rules), changed=True)

    def current(self) -> RuleInfo | None:
        return self.rules[self.cursor] if 0 <= self.cursor < len(self.rules) else None

    def row_style(self, position: int) -> Style | None:
        if not self.rules[position].enabled:
            return self.get_component_rich_style("row-list--dim", partial=True)
        return None

    def render_row(self, position: int) -> Sequence[Cell]:
        rule = self.rules[position]
        return (("●" if rule.enabled else "○", None), cell(rule.name), (f"{rule.hits:,}", None),
                cell(rule.description, limit=400))

    def action_switch(self) -> None:
        rule = self.current()
        panel = self.parent
        if rule is not None and isinstance(panel, RulesPanel):
            panel.toggle(rule)

    def action_reload(self) -> None:
        panel = self.parent
        if isinstance(panel, RulesPanel):
            panel.reload()

    def action_preset(self) -> None:
        panel = self.parent
        if isinstance(panel, RulesPanel):
            panel.choose_preset()


class RulesPanel(Vertical):
    def __init__(self, control: RulesControl | None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.control = control

    @property
    def rules(self) -> list[RuleInfo]:
        """The rules as last shown."""
        return self.query_one(RuleList).rules

    def compose(self) -> ComposeResult:
        yield Static(id="rules-help")
        yield RuleList(id="rule-list")

    def on_mount(self) -> None:
        help_line = self.query_one("#rules-help", Static)
        if self.control is None:
            help_line.update(Text("Rules act in a live proxy: run `dspscope demo` or "
                                  "`dspscope tui --rules FILE`."))
            return
        help_line.update(Text(HELP_LINE))
        self.set_interval(REFRESH_EVERY, self.refresh_rules)
        self.refresh_rules()

    @work(thread=True, exclusive=True, group="rules-status")
    def refresh_rules(self) -> None:
        if self.control is None or not self.is_attached:
            return
        try:
            rules = self.control.status()
        except Exception as exc:  # noqa: BLE001 - not started yet, or stopping: say so here
            self.app.call_from_thread(self._unavailable, exc)
            return
        self.app.call_from_thread(self._show, rules)

    def _show(self, rules: list[RuleInfo]) -> None:
        self.query_one("#rules-help", Static).update(Text(HELP_LINE))
        self.query_one(RuleList).update_rules(rules)

    def _unavailable(self, exc: BaseException) -> None:
        self.query_one("#rules-help", Static).update(literal(f"rules: {exc}", limit=200))

    def _failed(self, exc: BaseException) -> None:
        self.app.say(f"rules: {exc}", "error")  # type: ignore[attr-defined]

    @work(thread=True, group="rules-action")
    def toggle(self, rule: RuleInfo) -> None:
        assert self.control is not None
        self._report(lambda: self.control.set_enabled(rule.name, not rule.enabled))

    @work(thread=True, group="rules-action")
    def reload(self) -> None:
        assert self.control is not None
        self._report(self.control.reload)

    @work(thread=True, group="rules-action")
    def load_preset(self, name: str) -> None:
        assert self.control is not None
        self._report(lambda: self.control.load_preset(name))

    def choose_preset(self) -> None:
        if self.control is None:
            return
        from dspscope.viewer.screens.choose import Choose

        choices = [(name, summary) for name, summary in self.control.presets()]

        def chosen(name: str | None) -> None:
            if name:
                self.load_preset(name)

        self.app.push_screen(Choose("Load a preset rule file", choices), chosen)

    def _report(self, call: object) -> None:
        try:
            message = call()  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            self.app.call_from_thread(self._failed, exc)
            return
        if message:
            self.app.call_from_thread(self.app.say, str(message))  # type: ignore[attr-defined]
        self.app.call_from_thread(self.refresh_rules)
