"""The rule files in use, watched for changes: which files were asked for,
the last good rules of each, and why a file's current version is not in use.

A file that turns bad keeps its last good rules (the error is logged and
kept in ``errors``); a file taken off the list takes its rules with it; two
files may not name a rule alike.  Pure apart from reading the files: no
mitmproxy, so it is tested on its own; the rules addon (applyrules.py)
calls ``use`` when the option changes and ``watch`` while the proxy runs.
A file read again after a change says so at mitmproxy's ALERT level
("rules reloaded: N rule(s) from FILE"), which the headless proxy prints.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable

from dspscope import rules
from dspscope.rules.spec import Rule, RuleSet

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
#: mitmproxy's ALERT level (info a user must see), without importing mitmproxy
ALERT = logging.INFO + 1


class RuleFiles:
    """Feeds ``engine`` the rules of ``files``, reloading them when they change."""

    def __init__(self, engine: rules.Engine) -> None:
        self.engine = engine
        self.files: list[str] = []
        self.sets: dict[str, RuleSet] = {}
        #: File -> why its current version is not in use.
        self.errors: dict[str, str] = {}
        self._stamps: dict[str, tuple[int, int] | None] = {}

    def use(self, paths: Iterable[str]) -> list[str]:
        """Read ``paths`` (``~`` expanded, made absolute) as the rule files;
        returns the one-line errors of the files that gave no rules at all."""
        self.files = [os.path.abspath(os.path.expanduser(p)) for p in paths]
        self.reload()
        return [first_error(self.errors[f], f) for f in self.files
                if f in self.errors and f not in self.sets]

    def reload(self, *, force: bool = True) -> dict[str, str]:
        """Read the rule files again (only changed ones unless ``force``);
        returns the errors of the files that could not be used."""
        changed = False
        for path in self.files:
            stamp = _stamp(path)
            if not force and path in self._stamps and stamp == self._stamps[path]:
                continue
            self._stamps[path] = stamp
            try:
                loaded = rules.load(path)
            except rules.RuleFileError as exc:
                self.errors[path] = str(exc)
                kept = " (keeping its last good rules)" if path in self.sets else ""
                for error in exc.errors:  # one line each: consoles show the first line of a record
                    logger.error("rules: %s%s", error, kept)
                continue
            again = path in self.sets or path in self.errors
            self.sets[path] = loaded
            self.errors.pop(path, None)
            changed = True
            # a change (a bad file fixed, above all) is acknowledged where errors were shown
            logger.log(ALERT if again else logging.INFO, "rules%s: %d rule(s) from %s",
                       " reloaded" if again else "", len(loaded.rules), path)
            if not loaded.seed_given and any(_random(r) for r in loaded.rules):
                logger.warning("rules: %s has no seed; this run uses seed %d (add 'seed: %d' to repeat it)",
                               path, loaded.seed, loaded.seed)
        for path in list(self.sets):
            if path not in self.files:
                del self.sets[path]
                changed = True
        if changed or force:
            self._install()
        return {p: e for p, e in self.errors.items() if p in self.files}

    async def watch(self, every: float = POLL_SECONDS) -> None:
        """Reload changed files every ``every`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(every)
            try:
                self.reload(force=False)
            except Exception:  # noqa: BLE001 - keep watching whatever happens
                logger.exception("rules: reload failed")

    def _install(self) -> None:
        chosen: list[RuleSet] = []
        owner: dict[str, str] = {}
        for path in self.files:
            rule_set = self.sets.get(path)
            if rule_set is None:
                continue
            clash = next((r.name for r in rule_set.rules if r.name in owner), None)
            if clash is not None:
                self.errors[path] = f"{path}: rule name {clash!r} is also used in {owner[clash]}; not loaded"
                logger.error("rules: %s", self.errors[path])
                continue
            owner.update((r.name, path) for r in rule_set.rules)
            chosen.append(rule_set)
        self.engine.replace(chosen)


def first_error(errors: str, path: str) -> str:
    """The first error of a file, and how to see the others."""
    lines = errors.splitlines()
    more = f" (and {len(lines) - 1} more: dspscope rules check {path})" if len(lines) > 1 else ""
    return lines[0] + more


def _random(rule: Rule) -> bool:
    delay = rule.action.delay
    return rule.match.probability is not None or (delay is not None and delay.low != delay.high)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
