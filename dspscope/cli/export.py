"""dspscope export: a capture as JSON Lines records, a HAR file or a
mitmproxy capture, optionally with its personal data redacted."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import IO, Any

HELP = "export captures as JSON Lines (one record per exchange), HAR or a redacted capture"
DESCRIPTION = """\
Write the exchanges of one or more mitmproxy captures as JSON Lines, one
record per exchange (the same records as 'dspscope proxy --jsonl'), or as a
HAR 1.2 file for browsers and other HTTP tools (each entry carries the
dspscope record under "_dspscope"), or as a mitmproxy capture (--format mitm).

--redact makes a capture fit to attach to a bug report: user SIDs, user
names, e-mail addresses, UNC paths and SharePoint sites are replaced by
placeholders (the same value by the same placeholder throughout, so jobs
and users can still be followed), scanned images by blanks of the same
size, credentials (Authorization, cookies, client certificates) removed.

examples:
  dspscope export scans.mitm --format jsonl -o scans.jsonl
  dspscope export scans.mitm --format har -o scans.har
  dspscope export scans.mitm | jq 'select(.findings != [])'
  dspscope export scans.mitm --redact --format mitm -o shareable.mitm
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("captures", nargs="+", metavar="CAPTURE", help="mitmproxy capture files")
    parser.add_argument("--format", choices=("jsonl", "har", "mitm"), default="jsonl",
                        help="output format (default jsonl; mitm needs -o)")
    parser.add_argument("--redact", action="store_true",
                        help="replace personal data and blank scanned images (see above)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")


def run(args: argparse.Namespace) -> int:
    from dspscope.addons.record import CaptureError
    from dspscope.cli import UsageError
    from dspscope.exports import output_file, write_har, write_jsonl, write_mitm

    if args.redact:
        from dspscope.addons.redaction import redacted

        def flows() -> Any:
            return redacted(lambda: _flows(args.captures))
    else:
        def flows() -> Any:
            return _flows(args.captures)
    if args.format == "mitm" and args.output in (None, "-"):
        raise UsageError("--format mitm writes a binary capture: give the file with -o FILE.mitm")
    # scans and personal data: owner-only, as captures are, unless redacted
    private = not args.redact
    try:
        if args.format == "mitm":
            write_mitm(flows(), args.output, private=private)
            return 0
        with _output(args.output, private, output_file) as out:
            if args.format == "har":
                write_har(flows(), out)
            else:
                write_jsonl(flows(), out)
    except CaptureError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        where = "" if args.output in (None, "-") else f"; nothing written to {args.output}"
        print(f"dspscope export: interrupted{where}", file=sys.stderr)
        return 130
    return 0


@contextlib.contextmanager
def _output(path: str | None, private: bool, output_file: Any) -> Iterator[IO[str]]:
    """Standard output, or a file that appears only when it is whole."""
    if path is None or path == "-":
        yield sys.stdout
        return
    with output_file(path, private=private) as fh:
        yield fh


def _flows(paths: list[str]) -> Iterator[Any]:
    from dspscope.addons.record import read_capture

    for path in paths:
        yield from read_capture(path)
