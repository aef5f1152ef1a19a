"""The ``dspscope`` command: one subcommand per module in this package.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``, and imports anything heavy inside ``run`` so that
``dspscope --help`` stays fast.  Errors the user can fix are raised as
``UsageError`` and printed as one line; the exit status is then 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: (name, module) in the order --help lists them.
COMMANDS: list[tuple[str, str]] = [
    ("decode", "dspscope.cli.decode"),
    ("sim", "dspscope.cli.sim"),
    ("proxy", "dspscope.cli.proxy"),
    ("rules", "dspscope.cli.rules"),
    ("check", "dspscope.cli.check"),
    ("index", "dspscope.cli.index"),
    ("export", "dspscope.cli.export"),
    ("replay", "dspscope.cli.replay"),
    ("demo", "dspscope.cli.demo"),
    ("tui", "dspscope.cli.tui"),
    ("open", "dspscope.cli.open"),
]


def _version() -> str:
    import mitmproxy.version

    from dspscope import __version__

    return (f"dspscope {__version__} (mitmproxy {mitmproxy.version.VERSION}, "
            f"Python {sys.version.split()[0]})")


class UsageError(Exception):
    """A one-line message for the user; exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dspscope",
        description="Inspect, check, break and replay WS-DSP (Distributed Scan Management) "
        "traffic between scanners and a Windows scan server.",
        epilog="Run 'dspscope COMMAND --help' for a command's options.",
    )
    parser.add_argument("-V", "--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS:
        module = importlib.import_module(module_name)
        child = sub.add_parser(
            name,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(child)
        child.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        if any(name == "demo" for name, _ in COMMANDS):
            args = parser.parse_args(["demo", *(argv or [])])
        else:
            parser.print_help()
            return 0
    try:
        return int(args._run(args) or 0)
    except UsageError as exc:
        print(f"dspscope {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
