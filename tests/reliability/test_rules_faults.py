"""Rules that cannot work: files the proxy must refuse at start (with the
reason, and without starting), and rules that fail on the traffic they
meet (hostile bodies included), which must leave that traffic as it was
and say so."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.reliability import corpus
from tests.reliability.support import ROOT, Proxy, Upstream, count, post, rss_bytes

pytestmark = pytest.mark.e2e

ALIAS_BOMB = "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join([f'*{chr(96 + i)}'] * 9) if i else ', '.join(['lol'] * 9)}]\n"
    for i in range(8)) + "rules:\n  - name: x\n    match: {operation: *h}\n    action: {delay: 1}\n"
BAD_FILES = {
    "yaml-syntax": "rules:\n  - name: [unclosed\n",
    "unknown-operation": "rules:\n  - name: x\n    match: {operation: Nope}\n    action: {delay: 1}\n",
    "unknown-action": "rules:\n  - name: x\n    match: {operation: SendImage}\n    action: {explode: true}\n",
    "bad-xpath": "rules:\n  - name: x\n    match: {xpath: '//[['}\n    action: {delay: 1}\n",
    "alias-bomb": ALIAS_BOMB,
    "binary": "\x00\x01\x02\xff\xfe garbage \x1b[31m",
    "not-a-mapping": "- just\n- a list\n",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_rule_file_stops_the_start_with_its_reason(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(BAD_FILES[name].encode("utf-8", "surrogateescape"))
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "dspscope", "proxy", "--upstream", "http://127.0.0.1:9",
                           "--listen-port", str(port), "--rules", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"DSPSCOPE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    count("invalid rule files refused at start")
    assert done.returncode == 1, done.stderr
    assert str(path) in done.stderr and "Traceback" not in done.stderr
    assert "listening on" not in done.stderr and "\x1b" not in done.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # nothing listens there


FAILING = """\
rules:
  - name: removes-the-root
    match: {direction: response}
    action: {rewrite: [{xpath: /soap:Envelope, remove: true}]}
  - name: edits-tokens
    match: {direction: request}
    action: {rewrite: [{xpath: //dsp:JobToken, text: 00000000-0000-4000-8000-000000000000}]}
"""


def test_rules_failing_on_hostile_traffic_leave_it_alone(tmp_path: Path) -> None:
    rules = tmp_path / "dspscope.rules.yaml"
    rules.write_text(FAILING)
    chosen = [h for h in corpus.hostile(9) if h.name in {
        "gzip-bomb", "binary-garbage-soap", "mtom-no-boundary", "deep-nesting", "billion-laughs",
        "whitespace", "utf16-odd-length", "mtom-wrong-boundary"}]
    with Upstream() as upstream:
        proxy = Proxy(tmp_path, upstream.url, "--rules", str(rules)).started()
        try:
            before = rss_bytes(proxy.proc.pid)
            for n, entry in enumerate(chosen):
                tag = f"rule{n}"
                reply = post(proxy.port, entry.body, entry.content_type, tag, extra=entry.headers)
                assert reply.status == 200 and reply.body == entry.body, entry.name
                assert [r.body for r in upstream.by_tag(tag)] == [entry.body], entry.name
                count("hostile bodies through failing rules")
            grown = rss_bytes(proxy.proc.pid) - before
            assert proxy.stop() == 0
        finally:
            proxy.kill()
    records = proxy.records()
    # The rule on every response failed every time, and said so.
    assert proxy.stderr.count("rule 'removes-the-root' failed") == len(chosen)
    assert "Traceback" not in proxy.stderr
    for record in records:
        failed = [r for r in record["rules"] if r["name"] == "removes-the-root"]
        assert failed and all(r["error"] for r in failed)
    # No rule undid a Content-Encoding without bound (the gzip bomb is 1 GB).
    assert grown < 256 << 20, grown >> 20
