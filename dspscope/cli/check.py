"""dspscope check: the conformance report over captures."""

from __future__ import annotations

import argparse
import sys

HELP = "check captures for WS-DSP conformance, per job and per finding"
DESCRIPTION = """\
Decode every exchange of one or more mitmproxy captures (from 'dspscope
proxy --save', or any mitmproxy capture), follow each post-scan job across
them in order, and report the findings: per job, and per finding code with
where it first happened.

Give the files of a rotated capture oldest first; jobs are followed across
files.  Where a capture has an index beside it (CAPTURE.index, written by
'dspscope proxy --save' or 'dspscope index'), the decoded exchanges are read
from it, which is many times faster; the verdicts are the same.  Exit status: 0 when there is no error-level finding, 1 when there
is, 2 when a capture cannot be read.

examples:
  dspscope check scans.mitm
  dspscope check scans-20240501-*.mitm scans.mitm --json > report.json
  dspscope check run.mitm --junit report.xml
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("captures", nargs="+", metavar="CAPTURE", help="mitmproxy capture files")
    parser.add_argument("--json", action="store_true", help="the report as JSON on standard output")
    parser.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-index", action="store_true",
                        help="decode every exchange from the capture again, even where an index "
                             "(CAPTURE.index, see 'dspscope index') has them")


def run(args: argparse.Namespace) -> int:
    from dspscope.addons.conformance import Report
    from dspscope.addons.record import CaptureError, read_indexed
    from dspscope.cli.running import print_json, write_report

    from .progress import progress_bar

    report = Report()
    unreadable = False
    with progress_bar(args.captures, enabled=not args.no_progress) as advance:
        for path in args.captures:
            report.files.append(path)
            try:
                for item in read_indexed(path, progress=advance(path),
                                         use_index=not args.no_index, records=False):
                    if item.flow is not None:
                        report.add(item.flow, path)
                    else:
                        report.add_record(item.record, item.flags, path)
            except CaptureError as exc:
                report.problems.append(str(exc))
                unreadable = unreadable or exc.flows_read == 0
    if unreadable:  # no verdict over what was not read: the error alone
        for problem in report.problems:
            print(f"dspscope check: {problem}", file=sys.stderr)
        return 2
    report.finish()
    if args.junit:
        write_report(args.junit, report.junit())
    if args.json:
        print_json(report.to_json())
    else:
        for line in report.human():
            print(line)
    for problem in report.problems:
        print(f"dspscope check: {problem}", file=sys.stderr)
    return 1 if report.failed else 0
