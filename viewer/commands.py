"""The command palette's dspscope commands (ctrl+p).

Names of rules and presets are shown as plain Content (the palette's own
highlighter would read them as markup)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from dspscope.viewer.safe import printable

if TYPE_CHECKING:
    from dspscope.viewer.app import DspscopeApp

Command = tuple[str, Callable[[], object], str]


class ViewerCommands(Provider):
    def _commands(self) -> Iterator[Command]:
        app: DspscopeApp = self.app  # type: ignore[assignment]
        main = app.main
        yield ("Save session as a capture (.mitm)", app.action_save, "every exchange, for dspscope open")
        yield ("Export exchanges (JSONL or HAR)", app.action_export, "the rows the filter shows")
        yield ("Toggle dark/light theme", app.action_toggle_theme, "")
        yield ("Help: keys and filter language", app.action_help, "")
        yield ("Replay the selected exchange", app.action_replay, "to its server, compared")
        if main is not None:
            for view in ("exchanges", "jobs", "rules", "log"):
                yield (f"Show {view}", partial(main.action_view, view), "")
            yield ("Clear the filter", partial(main.set_filter, ""), "")
            yield ("Follow newest exchanges", main.action_follow, "")
            yield ("Open the job of the selected exchange", main.action_open_job, "")
        if app.source.intercept is not None:
            yield ("Intercept: pause requests matching a filter", app.action_intercept, "")
            yield ("Intercept: off", app.action_intercept_off, "")
            yield ("Intercept: forward all paused requests", app.action_forward_all, "")
        rules = app.source.rules
        if rules is not None and main is not None:
            panel = main.rules_panel
            yield ("Rules: reload the rule files", panel.reload, "")
            yield ("Rules: load a preset…", panel.choose_preset, "")
            for rule in panel.rules:
                verb = "off" if rule.enabled else "on"
                yield (f"Rules: switch {verb} {printable(rule.name, limit=60)}",
                       partial(panel.toggle, rule), "")

    async def discover(self) -> Hits:
        for name, run, help_text in self._commands():
            yield DiscoveryHit(Content(name), run, text=name, help=help_text or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, Content(name), run, text=name, help=help_text or None)
