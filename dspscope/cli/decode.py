"""dspscope decode: one message body in, the JSON contract out."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "decode one WS-DSP/SOAP message body and print it as JSON"
DESCRIPTION = """\
Decode one HTTP body (a SOAP envelope, or an MTOM multipart/related package)
and print the decoded message as JSON: protocol, kind, operation, addressing,
job token, fields, fault, attachments and findings (see the README).

Give the body's Content-Type for MTOM bodies; a file that starts with
MIME headers (Content-Type: multipart/related ...) is read with them.

examples:
  dspscope decode request.xml
  dspscope decode sendimage.mime --content-type 'multipart/related; boundary=...'
  curl -s ... | dspscope decode -
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE|-", help="the body to decode; - reads standard input")
    parser.add_argument("--content-type", metavar="CT", help="the body's HTTP Content-Type")
    parser.add_argument("--compact", action="store_true", help="one line of JSON")


def run(args: argparse.Namespace) -> int:
    from dspscope.cli import UsageError
    from dspscope.wsdsp import decode
    from dspscope.wsdsp.mtom import split_leading_headers

    if args.file == "-":
        content = sys.stdin.buffer.read()
    else:
        try:
            with open(args.file, "rb") as fh:
                content = fh.read()
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    content_type = args.content_type
    if content_type is None:
        content_type, content = split_leading_headers(content)
    message = decode(content, content_type)
    json.dump(message.to_json(), sys.stdout, indent=None if args.compact else 2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0
