"""dspscope rules check|presets: validate rule files, list the shipped ones."""

from __future__ import annotations

import argparse
import sys

HELP = "check fault-injection rule files, list the shipped presets"
DESCRIPTION = """\
Rule files (YAML) tell 'dspscope proxy --rules FILE' which messages to
break and how: faults, HTTP statuses, delays, resets, truncated or slow
replies, XPath rewrites, WS-Addressing damage, malformed XML, dropped
events.  See the README's "Rules" section for every key.

  check FILE...     validate; each problem names the file, line and rule
                    and says what was expected (exit status 1 if any);
                    warnings (exit status 0) for rules that load but never
                    fire, e.g. an xpath naming an element that never occurs
                    in the messages the rule sees
  presets [NAME]    list the presets shipped with dspscope, or print one
                    (a starting point for your own file)

examples:
  dspscope rules check my-rules.yaml
  dspscope rules presets
  dspscope rules presets busy-server > busy.yaml
  dspscope proxy --upstream https://server:5362 --rules busy.yaml
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", metavar="ACTION")
    check = sub.add_parser("check", help="validate rule files")
    check.add_argument("files", nargs="+", metavar="FILE", help="rule files to check")
    check.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    presets = sub.add_parser("presets", help="list the shipped presets, or print one")
    presets.add_argument("name", nargs="?", metavar="NAME", help="the preset to print")


def run(args: argparse.Namespace) -> int:
    from dspscope.cli import UsageError

    if args.rules_command == "check":
        return _check(args.files, quiet=args.quiet)
    if args.rules_command == "presets":
        return _presets(args.name)
    raise UsageError("say what to do: 'dspscope rules check FILE...' or 'dspscope rules presets'")


def _check(files: list[str], *, quiet: bool) -> int:
    from dspscope import rules
    from dspscope.rules import lint

    bad = 0
    names: dict[str, str] = {}
    for path in files:
        try:
            loaded = rules.load(path)
        except rules.RuleFileError as exc:
            bad += 1
            for error in exc.errors:
                print(error)
            continue
        clashes = [r for r in loaded.rules if r.name in names]
        for rule in clashes:
            bad += 1
            print(f"{path}:{rule.line}: rule {rule.name!r}: the name is also used in {names[rule.name]}; "
                  "rules loaded together need different names")
        names.update((r.name, path) for r in loaded.rules)
        for warning in lint.warnings(loaded):  # loads, but may not do what it seems to say
            print(warning)
        if quiet or clashes:
            continue
        seed = f"seed {loaded.seed}" if loaded.seed_given else "no seed (a random one each run)"
        print(f"{path}: ok, {len(loaded.rules)} rule(s), {seed}")
        for rule in loaded.rules:
            state = "" if rule.enabled else " (disabled)"
            print(f"  {rule.name} [{rule.side}]{state}: {rule.summary()}")
    return 1 if bad else 0


def _presets(name: str | None) -> int:
    from dspscope.cli import UsageError
    from dspscope.rules import find_preset, list_presets

    if name is None:
        found = list_presets()
        width = max((len(p.name) for p in found), default=0)
        for preset in found:
            print(f"{preset.name:<{width}}  {preset.summary}")
        print(f"\nshow one with 'dspscope rules presets NAME'; use it with "
              f"'dspscope proxy --rules FILE' ({found[0].path.parent if found else ''})")
        return 0
    try:
        preset = find_preset(name)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    sys.stdout.write(preset.path.read_text(encoding="utf-8"))
    return 0
