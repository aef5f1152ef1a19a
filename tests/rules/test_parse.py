"""Rule files: what a valid file becomes, and every validation error, each
checked for the line it names and for what it says is expected."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from dspscope.rules import RuleFileError, load, parse
from dspscope.rules.parse import MAX_FILE_BYTES
from dspscope.rules.spec import DelayAction, FaultAction, StatusAction, TransportAction


def one_rule(rule: str, seed: str = "seed: 1\n") -> str:
    """A file whose only rule (given as YAML lines, '- ' first) starts on line 3."""
    return seed + "rules:\n" + "".join("  " + line + "\n" for line in rule.strip("\n").splitlines())


def errors(text: str) -> list[tuple[int, str | None, str]]:
    with pytest.raises(RuleFileError) as caught:
        parse(text, "t.yaml")
    return [(e.line, e.rule, e.message) for e in caught.value.errors]


def the_error(text: str) -> tuple[int, str | None, str]:
    found = errors(text)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------- valid files


ISSUE_EXAMPLE = """\
seed: 42                      # makes probability reproducible
rules:
  - name: busy-on-third-image
    match:
      operation: SendImage      # one or a list; WS-DSP operation or event name
      nth_in_job: 3             # optional: the 3rd SendImage of each job
      probability: 1.0          # optional
    action:
      fault: ServerErrorTemporaryError
"""


def test_the_issue_example_parses() -> None:
    rule_set = parse(ISSUE_EXAMPLE, "busy.yaml")
    assert rule_set.seed == 42 and rule_set.seed_given
    (rule,) = rule_set.rules
    assert (rule.name, rule.file, rule.line, rule.enabled) == ("busy-on-third-image", "busy.yaml", 3, True)
    assert rule.match.operations == ("SendImage",)
    assert rule.match.direction == "response"
    assert rule.match.nth_in_job == 3 and rule.match.probability == 1.0
    assert rule.action.fault == FaultAction("ServerErrorTemporaryError")
    assert rule.action.names == ("fault",)


def test_every_key_in_one_file() -> None:
    text = """\
rules:
  - name: all-match-keys
    description: a rule with every match key
    match:
      operation: [SendImage, EndPostScanJob]
      direction: request
      client: [10.0.0.0/8, 192.0.2.7, "2001:db8::/32"]
      xpath: //dsp:DocumentId = 3
      nth: 2
      every: 3
      probability: 0.5
      times: 4
      enabled: false
    action:
      delay: {mean: 2, jitter: 0.5}
      fault: {subcode: Busy, code: Receiver, reason: Busy now, detail: try later, status: 503,
              namespace: "urn:vendor"}
      rewrite:
        - {xpath: //dsp:Format, text: png}
        - {xpath: //dsp:ImageData, set_attribute: {Id: x1, "xml:lang": en}}
        - {xpath: //dsp:ImageData, remove_attribute: [Id, "dsp:Other"]}
        - {xpath: //dsp:DocumentId, remove: true}
        - {xpath: //dsp:DocumentDescription, insert: "<dsp:Extra>1</dsp:Extra>", position: before}
      addressing: {relates_to: wrong, message_id: duplicate}
  - name: event-default
    match: {operation: PostScanJobEndStateEvent}
    action: {drop: true, delay: [1, 2.5]}
  - name: shapes
    match: {operation: CreatePostScanJob, nth_in_job: 1}
    action: {status: {code: 503, body: busy, headers: {Retry-After: 5}}, transport: {throttle: 100}}
  - name: words
    match: {operation: Subscribe, direction: request}
    enabled: false
    action: {transport: close, delay: 0}
  - name: truncating
    match: {direction: response}
    action: {transport: {truncate: 0}, malformed: invalid-utf8}
"""
    rule_set = parse(text)
    assert not rule_set.seed_given and 0 <= rule_set.seed < 2**32
    first, event, shapes, words, truncating = rule_set.rules
    m = first.match
    assert m.operations == ("SendImage", "EndPostScanJob") and m.direction == "request"
    assert m.clients == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.7/32"),
                         ipaddress.ip_network("2001:db8::/32"))
    assert m.xpath is not None and m.xpath.text == "//dsp:DocumentId = 3"
    assert (m.nth, m.every, m.probability, m.times) == (2, 3, 0.5, 4)
    assert first.enabled is False and first.description == "a rule with every match key"
    a = first.action
    assert a.delay == DelayAction(1.5, 2.5)
    assert a.fault == FaultAction("Busy", "Receiver", "Busy now", "try later", 503, "urn:vendor")
    assert [e.kind for e in a.rewrite] == ["text", "set_attribute", "remove_attribute", "remove", "insert"]
    assert a.rewrite[1].attributes == (("Id", "x1"), ("{http://www.w3.org/XML/1998/namespace}lang", "en"))
    assert a.rewrite[2].attributes[1][0].endswith("}Other")
    assert a.rewrite[4].position == "before"
    assert a.addressing is not None and a.addressing.relates_to == "wrong"
    assert event.match.direction == "event" and event.action.drop
    assert event.action.delay == DelayAction(1.0, 2.5)
    assert shapes.action.status == StatusAction(503, "busy", (("Retry-After", "5"),))
    assert shapes.action.transport == TransportAction("throttle", 100)
    assert shapes.match.direction == "response"
    assert words.action.transport == TransportAction("close") and not words.enabled
    assert words.action.delay == DelayAction(0.0, 0.0)
    assert truncating.action.transport == TransportAction("truncate", 0)


def test_spec_fault_names_may_carry_a_prefix() -> None:
    rule = parse(one_rule("- {name: r, match: {operation: SendImage}, action: {fault: dsp:InvalidArgs}}")).rules[0]
    assert rule.action.fault == FaultAction("InvalidArgs")


def test_an_empty_rule_list_is_valid() -> None:
    assert parse("seed: 3\nrules: []\n").rules == ()


def test_two_loads_compare_equal() -> None:
    text = one_rule("- {name: r, match: {xpath: '//dsp:JobToken'}, action: {delay: 1}}")
    assert parse(text) == parse(text)


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + ISSUE_EXAMPLE.encode())
    assert load(path).rules[0].file == str(path)


# -------------------------------------------------------- file-level errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError) as caught:
        load(tmp_path / "nope.yaml")
    (error,) = caught.value.errors
    assert error.file.endswith("nope.yaml") and "cannot read" in error.message
    assert str(error).startswith(str(tmp_path / "nope.yaml") + ": ")


def test_huge_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(RuleFileError, match="larger than"):
        load(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("rules: []  # caf\xe9\n".encode("latin-1"))
    with pytest.raises(RuleFileError, match="not UTF-8"):
        load(path)


FILE_CASES = [
    ("syntax", "seed: 1\nrules: [\n", 3, "not valid YAML"),
    ("bad-character", "seed: 1\x07\n", 0, "not valid YAML"),
    ("two-documents", "rules: []\n---\nrules: []\n", 2, "not valid YAML"),
    ("empty", "# nothing\n", 0, "empty file"),
    ("python-tag", "seed: 1\nrules: !!python/object/apply:os.system [echo]\n", 2, "tag '!!python/object/apply:os.system' is not allowed"),
    ("binary-tag", "seed: !!binary aGk=\nrules: []\n", 1, "tag '!!binary' is not allowed"),
    ("bad-literal", "seed: !!int many\nrules: []\n", 1, "unsupported value"),
    ("top-list", "- name: x\n", 1, "expected a mapping"),
    ("top-scalar", "hello\n", 1, "expected a mapping"),
    ("top-number-key", "1: x\nrules: []\n", 1, "keys must be plain names"),
    ("top-unknown", "seed: 1\nrule: []\n", 2, "unknown key 'rule' in the file (did you mean 'rules'?)"),
    ("top-twice", "seed: 1\nseed: 2\nrules: []\n", 2, "key 'seed' given twice"),
    ("seed-text", "seed: abc\nrules: []\n", 1, "seed: expected a whole number >= 0, got 'abc' (text)"),
    ("seed-negative", "seed: -1\nrules: []\n", 1, "seed: expected a whole number >= 0, got -1"),
    ("seed-float", "seed: 1.5\nrules: []\n", 1, "seed: expected a whole number"),
    ("seed-list", "seed: [1]\nrules: []\n", 1, "expected a single value, got a list"),
    ("no-rules", "seed: 1\n", 1, "missing 'rules:'"),
    ("rules-mapping", "rules: {a: 1}\n", 1, "rules: expected a list of rules"),
    ("rules-scalar", "rules: 3\n", 1, "rules: expected a list of rules ('- name: ...'), got 3 (number)"),
]


@pytest.mark.parametrize(("text", "line", "expected"), [c[1:] for c in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])
def test_file_errors(text: str, line: int, expected: str) -> None:
    found = errors(text)
    assert (line, expected) in [(ln, m[: len(expected)]) for ln, _, m in found] or any(
        ln == line and expected in m for ln, _, m in found), found


# -------------------------------------------------------- rule-level errors

# (id, rule YAML starting on line 3, line of the error, rule name in it, text)
RULE_CASES = [
    # the rule itself
    ("rule-not-mapping", "- just text", 3, "#1", "a rule: expected a mapping"),
    ("no-name", "- {match: {operation: SendImage}, action: {delay: 1}}", 3, "#1", "missing 'name:'"),
    ("name-list", "- {name: [a], match: {operation: SendImage}, action: {delay: 1}}", 3, "#1",
     "expected a single value, got a list"),
    ("name-number", "- {name: 5, match: {operation: SendImage}, action: {delay: 1}}", 3, "#1",
     "name: expected text, got 5 (number)"),
    ("name-empty", "- {name: ' ', match: {operation: SendImage}, action: {delay: 1}}", 3, "#1",
     "name: expected non-empty text"),
    ("rule-unknown-key", "- {name: r, macth: {operation: SendImage}, match: {nth: 1}, action: {delay: 1}}", 3, "r",
     "unknown key 'macth' in a rule (did you mean 'match'?); expected one of: name, description, enabled, match, action"),
    ("description-number", "- {name: r, description: 3, match: {nth: 1}, action: {delay: 1}}", 3, "r",
     "description: expected text"),
    ("enabled-word", "- {name: r, enabled: maybe, match: {nth: 1}, action: {delay: 1}}", 3, "r",
     "enabled: expected true or false, got 'maybe' (text)"),
    ("no-match", "- {name: r, action: {delay: 1}}", 3, "r", "missing 'match:'"),
    ("no-action", "- {name: r, match: {nth: 1}}", 3, "r", "missing 'action:'"),
    ("enabled-twice", "- {name: r, enabled: true, match: {nth: 1, enabled: false}, action: {delay: 1}}", 3, "r",
     "'enabled' is given both in the rule and in its match"),
    # match
    ("match-list", "- {name: r, match: [SendImage], action: {delay: 1}}", 3, "r", "match: expected a mapping"),
    ("match-empty", "- {name: r, match: {}, action: {delay: 1}}", 3, "r", "match: needs at least one condition"),
    ("match-unknown", "- {name: r, match: {opration: SendImage}, action: {delay: 1}}", 3, "r",
     "unknown key 'opration' in match (did you mean 'operation'?)"),
    ("operation-message-name", "- {name: r, match: {operation: SendImageRequest}, action: {delay: 1}}", 3, "r",
     "operation: 'SendImageRequest' is a message name; use the operation name 'SendImage'"),
    ("operation-response-name", "- {name: r, match: {operation: EndPostScanJobResponse}, action: {delay: 1}}", 3,
     "r", "use the operation name 'EndPostScanJob'"),
    ("operation-unknown", "- {name: r, match: {operation: SendImages}, action: {delay: 1}}", 3, "r",
     "operation: unknown name 'SendImages' (did you mean 'SendImage'?); expected a WS-DSP operation"),
    ("operation-empty-list", "- {name: r, match: {operation: []}, action: {delay: 1}}", 3, "r",
     "operation: expected one name or a list of names, got an empty list"),
    ("operation-number", "- {name: r, match: {operation: 7}, action: {delay: 1}}", 3, "r",
     "operation: expected text, got 7 (number)"),
    ("direction-unknown", "- {name: r, match: {direction: inbound}, action: {delay: 1}}", 3, "r",
     "direction: expected request, response or event, got 'inbound'"),
    ("mixed-events", "- {name: r, match: {operation: [SendImage, PostScanJobStatusEvent]}, action: {delay: 1}}", 3,
     "r", "operation mixes events (PostScanJobStatusEvent) with operations (SendImage)"),
    ("event-direction-operation", "- {name: r, match: {operation: SendImage, direction: event}, action: {delay: 1}}",
     3, "r", "direction: event, but SendImage is an operation, not an event"),
    ("response-direction-event",
     "- {name: r, match: {operation: PostScanJobEndStateEvent, direction: response}, action: {delay: 1}}", 3, "r",
     "direction: response, but PostScanJobEndStateEvent is an event; use direction: event"),
    ("nth-in-job-and-nth", "- {name: r, match: {operation: SendImage, nth_in_job: 2, nth: 1}, action: {delay: 1}}",
     3, "r", "nth_in_job counts per job, nth and every per rule; use one of them"),
    ("nth-in-job-no-operation", "- {name: r, match: {nth_in_job: 2}, action: {delay: 1}}", 3, "r",
     "nth_in_job needs an operation"),
    ("nth-in-job-create-request",
     "- {name: r, match: {operation: CreatePostScanJob, direction: request, nth_in_job: 1}, action: {delay: 1}}",
     3, "r", "CreatePostScanJob gets its JobToken in the response: use direction: response"),
    ("nth-in-job-subscribe", "- {name: r, match: {operation: Subscribe, nth_in_job: 1}, action: {delay: 1}}", 3, "r",
     "nth_in_job: Subscribe carries no JobToken"),
    ("client-bad", "- {name: r, match: {client: 10.0.0.300}, action: {delay: 1}}", 3, "r",
     "client: '10.0.0.300' is not an IP address or CIDR network"),
    ("client-in-list", "- {name: r, match: {client: [10.0.0.1, printer7]}, action: {delay: 1}}", 3, "r",
     "client: 'printer7' is not an IP address"),
    ("xpath-syntax", "- {name: r, match: {xpath: '//dsp:JobToken['}, action: {delay: 1}}", 3, "r",
     "xpath: '//dsp:JobToken[' is not valid XPath 1.0"),
    ("xpath-prefix", "- {name: r, match: {xpath: '//foo:Bar'}, action: {delay: 1}}", 3, "r",
     "xpath: '//foo:Bar' cannot be evaluated (Undefined namespace prefix); the predefined prefixes are soap"),
    ("xpath-function", "- {name: r, match: {xpath: 'shout(1)'}, action: {delay: 1}}", 3, "r",
     "cannot be evaluated (Unregistered function)"),
    ("xpath-number", "- {name: r, match: {xpath: 5}, action: {delay: 1}}", 3, "r", "xpath: expected text"),
    ("nth-zero", "- {name: r, match: {nth: 0}, action: {delay: 1}}", 3, "r",
     "nth: expected a whole number of at least 1, got 0"),
    ("every-float", "- {name: r, match: {every: 2.5}, action: {delay: 1}}", 3, "r",
     "every: expected a whole number of at least 1, got 2.5 (number)"),
    ("times-bool", "- {name: r, match: {times: true}, action: {delay: 1}}", 3, "r",
     "times: expected a whole number of at least 1, got True (true/false)"),
    ("nth-in-job-text", "- {name: r, match: {operation: SendImage, nth_in_job: third}, action: {delay: 1}}", 3, "r",
     "nth_in_job: expected a whole number of at least 1, got 'third' (text)"),
    ("probability-high", "- {name: r, match: {probability: 1.5}, action: {delay: 1}}", 3, "r",
     "probability: expected a number from 0 to 1, got 1.5"),
    ("probability-percent", "- {name: r, match: {probability: 50%}, action: {delay: 1}}", 3, "r",
     "probability: expected a number from 0 to 1, got '50%' (text)"),
    ("probability-nan", "- {name: r, match: {probability: .nan}, action: {delay: 1}}", 3, "r",
     "probability: expected a number from 0 to 1"),
    ("match-enabled-word", "- {name: r, match: {nth: 1, enabled: no way}, action: {delay: 1}}", 3, "r",
     "enabled: expected true or false"),
    # actions
    ("action-list", "- {name: r, match: {nth: 1}, action: [fault]}", 3, "r", "action: expected a mapping"),
    ("action-empty", "- {name: r, match: {nth: 1}, action: {}}", 3, "r",
     "action: needs at least one of delay, drop, fault, status, rewrite, addressing, malformed, transport"),
    ("action-unknown", "- {name: r, match: {nth: 1}, action: {faults: InvalidArgs}}", 3, "r",
     "unknown key 'faults' in action (did you mean 'fault'?)"),
    ("fault-unknown", "- {name: r, match: {nth: 1}, action: {fault: ServerBusy}}", 3, "r",
     "fault: unknown subcode 'ServerBusy'; expected one of ActionNotSupported, InvalidArgs, OperationFailed, "
     "ServerErrorTemporaryError, ServerErrorInternalError"),
    ("fault-typo", "- {name: r, match: {nth: 1}, action: {fault: InvalidArg}}", 3, "r",
     "(did you mean 'InvalidArgs'?)"),
    ("fault-no-subcode", "- {name: r, match: {nth: 1}, action: {fault: {code: Sender}}}", 3, "r",
     "fault: missing 'subcode:'"),
    ("fault-subcode-not-name", "- {name: r, match: {nth: 1}, action: {fault: {subcode: 'two words'}}}", 3, "r",
     "fault subcode: 'two words' is not an XML name"),
    ("fault-code", "- {name: r, match: {nth: 1}, action: {fault: {subcode: InvalidArgs, code: Client}}}", 3, "r",
     "fault code: expected one of Sender, Receiver, VersionMismatch, MustUnderstand, DataEncodingUnknown, got 'Client'"),
    ("fault-custom-incomplete", "- {name: r, match: {nth: 1}, action: {fault: {subcode: Busy, code: Receiver}}}", 3,
     "r", "fault: 'Busy' is not a spec subcode; spec subcodes are ActionNotSupported"),
    ("fault-status", "- {name: r, match: {nth: 1}, action: {fault: {subcode: InvalidArgs, status: 99}}}", 3, "r",
     "fault status: expected an HTTP status code (100-599), got 99"),
    ("fault-unknown-key", "- {name: r, match: {nth: 1}, action: {fault: {subcode: InvalidArgs, text: x}}}", 3, "r",
     "unknown key 'text' in fault"),
    ("fault-reason-list", "- {name: r, match: {nth: 1}, action: {fault: {subcode: InvalidArgs, reason: [a]}}}", 3,
     "r", "expected a single value, got a list"),
    ("status-high", "- {name: r, match: {nth: 1}, action: {status: 700}}", 3, "r",
     "status: expected an HTTP status code (100-599), got 700"),
    ("status-text", "- {name: r, match: {nth: 1}, action: {status: busy}}", 3, "r",
     "status: expected an HTTP status code (100-599), got 'busy' (text)"),
    ("status-no-code", "- {name: r, match: {nth: 1}, action: {status: {body: x}}}", 3, "r", "status: missing 'code:'"),
    ("status-headers-list", "- {name: r, match: {nth: 1}, action: {status: {code: 503, headers: [a]}}}", 3, "r",
     "status headers: expected a mapping of header name to value"),
    ("status-header-name", "- {name: r, match: {nth: 1}, action: {status: {code: 503, headers: {'Retry After': 1}}}}",
     3, "r", "status headers: 'Retry After' is not a valid HTTP header name"),
    ("status-header-twice",
     "- {name: r, match: {nth: 1}, action: {status: {code: 503, headers: {X-A: 1, x-a: 2}}}}", 3, "r",
     "status headers: 'x-a' given twice"),
    ("status-header-newline",
     "- {name: r, match: {nth: 1}, action: {status: {code: 503, headers: {X-A: \"a\\nb\"}}}}", 3, "r",
     "header X-A: a header value cannot hold a line break"),
    ("status-header-value-list",
     "- {name: r, match: {nth: 1}, action: {status: {code: 503, headers: {X-A: [1]}}}}", 3, "r",
     "expected a single value, got a list"),
    ("status-body-number", "- {name: r, match: {nth: 1}, action: {status: {code: 503, body: 5}}}", 3, "r",
     "status body: expected text"),
    ("delay-negative", "- {name: r, match: {nth: 1}, action: {delay: -1}}", 3, "r",
     "delay: expected a number from 0 to 3600, got -1"),
    ("delay-huge", "- {name: r, match: {nth: 1}, action: {delay: 86400}}", 3, "r",
     "delay: expected a number from 0 to 3600"),
    ("delay-text", "- {name: r, match: {nth: 1}, action: {delay: 2s}}", 3, "r",
     "delay: expected a number from 0 to 3600, got '2s' (text)"),
    ("delay-range-length", "- {name: r, match: {nth: 1}, action: {delay: [1, 2, 3]}}", 3, "r",
     "delay: a range is [min, max] (two numbers), got 3 items"),
    ("delay-range-order", "- {name: r, match: {nth: 1}, action: {delay: [3, 1]}}", 3, "r",
     "delay: range [3, 1] has min above max"),
    ("delay-range-item", "- {name: r, match: {nth: 1}, action: {delay: [1, x]}}", 3, "r",
     "delay max: expected a number"),
    ("delay-no-mean", "- {name: r, match: {nth: 1}, action: {delay: {jitter: 1}}}", 3, "r",
     "delay: expected seconds (0 to 3600), [min, max] or {mean: S, jitter: S}"),
    ("delay-jitter-negative", "- {name: r, match: {nth: 1}, action: {delay: {mean: 1, jitter: -1}}}", 3, "r",
     "delay jitter: expected a number from 0 to 3600"),
    ("delay-unknown-key", "- {name: r, match: {nth: 1}, action: {delay: {mean: 1, max: 2}}}", 3, "r",
     "unknown key 'max' in delay; expected one of: mean, jitter"),
    ("transport-word", "- {name: r, match: {nth: 1}, action: {transport: slam}}", 3, "r",
     "transport: expected reset, close, hang, {truncate: BYTES} or {throttle: BYTES_PER_SECOND}, got 'slam'"),
    ("transport-truncate-word", "- {name: r, match: {nth: 1}, action: {transport: truncate}}", 3, "r",
     "transport: truncate needs a number, e.g. transport: {truncate: 1000}"),
    ("transport-two", "- {name: r, match: {nth: 1}, action: {transport: {truncate: 1, throttle: 2}}}", 3, "r",
     "transport: give exactly one of truncate: BYTES or throttle: BYTES_PER_SECOND"),
    ("transport-unknown", "- {name: r, match: {nth: 1}, action: {transport: {reset: 1}}}", 3, "r",
     "unknown key 'reset' in transport"),
    ("throttle-zero", "- {name: r, match: {nth: 1}, action: {transport: {throttle: 0}}}", 3, "r",
     "transport throttle: expected a whole number of at least 1, got 0"),
    ("truncate-negative", "- {name: r, match: {nth: 1}, action: {transport: {truncate: -5}}}", 3, "r",
     "transport truncate: expected a whole number >= 0, got -5"),
    ("rewrite-mapping", "- {name: r, match: {nth: 1}, action: {rewrite: {xpath: //a}}}", 3, "r",
     "rewrite: expected a list of edits"),
    ("rewrite-empty", "- {name: r, match: {nth: 1}, action: {rewrite: []}}", 3, "r",
     "rewrite: expected a list of edits"),
    ("edit-no-xpath", "- {name: r, match: {nth: 1}, action: {rewrite: [{text: x}]}}", 3, "r",
     "rewrite edit: missing 'xpath:'"),
    ("edit-no-operation", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A}]}}", 3, "r",
     "rewrite edit: give exactly one of text, set_attribute, remove_attribute, remove, insert (got none)"),
    ("edit-two-operations", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, text: x, remove: true}]}}",
     3, "r", "(got text, remove)"),
    ("edit-unknown-key", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, txt: x}]}}", 3, "r",
     "unknown key 'txt' in a rewrite edit (did you mean 'text'?)"),
    ("edit-bad-xpath", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: '//dsp:A[', text: x}]}}", 3, "r",
     "rewrite xpath: '//dsp:A[' is not valid XPath 1.0"),
    ("edit-position-without-insert",
     "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, text: x, position: after}]}}", 3, "r",
     "rewrite edit: position goes with insert only"),
    ("edit-text-bool", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, text: true}]}}", 3, "r",
     "rewrite text: expected text, got True (true/false)"),
    ("set-attribute-list", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, set_attribute: [a]}]}}",
     3, "r", "set_attribute: expected a mapping of attribute name to value"),
    ("set-attribute-bad-name",
     "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, set_attribute: {'1x': a}}]}}", 3, "r",
     "attribute '1x': not an attribute name; expected NAME or PREFIX:NAME"),
    ("set-attribute-prefix",
     "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, set_attribute: {'v:x': a}}]}}", 3, "r",
     "attribute 'v:x': unknown prefix 'v'; predefined: soap"),
    ("remove-attribute-bad",
     "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, remove_attribute: ['a b']}]}}", 3, "r",
     "attribute 'a b': not an attribute name"),
    ("remove-false", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, remove: false}]}}", 3, "r",
     "remove: write remove: true (or leave the edit out)"),
    ("insert-malformed", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, insert: '<dsp:X>'}]}}", 3,
     "r", "insert: not well-formed XML"),
    ("insert-doctype",
     "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, insert: '<!DOCTYPE x><x/>'}]}}", 3, "r",
     "insert: declarations (<!DOCTYPE, <!ENTITY) are not allowed"),
    ("insert-entity", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, insert: '<x>&ent;</x>'}]}}",
     3, "r", "insert: not well-formed XML"),
    ("insert-text", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, insert: 'hello <x/>'}]}}", 3,
     "r", "insert: text outside elements"),
    ("insert-no-element", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, insert: '<!-- c -->'}]}}",
     3, "r", "insert: no element"),
    ("insert-unknown-prefix", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, insert: '<v:x/>'}]}}",
     3, "r", "insert: not well-formed XML"),
    ("insert-position", "- {name: r, match: {nth: 1}, action: {rewrite: [{xpath: //dsp:A, insert: '<x/>', position: top}]}}",
     3, "r", "position: expected append, prepend, before, after, got 'top'"),
    ("addressing-empty", "- {name: r, match: {nth: 1}, action: {addressing: {}}}", 3, "r",
     "addressing: give relates_to: wrong|missing and/or message_id: duplicate"),
    ("addressing-unknown", "- {name: r, match: {nth: 1}, action: {addressing: {to: wrong}}}", 3, "r",
     "unknown key 'to' in addressing"),
    ("relates-to-word", "- {name: r, match: {nth: 1}, action: {addressing: {relates_to: random}}}", 3, "r",
     "relates_to: expected wrong or missing, got 'random'"),
    ("message-id-word", "- {name: r, match: {nth: 1}, action: {addressing: {message_id: missing}}}", 3, "r",
     "message_id: expected duplicate, got 'missing'"),
    ("malformed-word", "- {name: r, match: {nth: 1}, action: {malformed: unclosed-tag}}", 3, "r",
     "malformed: expected unclosed, wrong-namespace, invalid-utf8, got 'unclosed-tag' (did you mean 'unclosed'?)"),
    ("drop-false", "- {name: r, match: {operation: PostScanJobStatusEvent}, action: {drop: false}}", 3, "r",
     "drop: write drop: true (or leave it out)"),
    ("drop-text", "- {name: r, match: {operation: PostScanJobStatusEvent}, action: {drop: event}}", 3, "r",
     "drop: expected true or false"),
    # combinations
    ("fault-and-status", "- {name: r, match: {nth: 1}, action: {fault: InvalidArgs, status: 500}}", 3, "r",
     "fault and status both answer the message; keep one"),
    ("drop-on-response", "- {name: r, match: {operation: SendImage}, action: {drop: true}}", 3, "r",
     "drop acts on events only (direction: event), not on a response"),
    ("drop-and-rewrite",
     "- {name: r, match: {operation: PostScanJobStatusEvent}, action: {drop: true, malformed: unclosed}}", 3, "r",
     "drop throws the event away, so malformed would never be seen"),
    ("reset-and-fault", "- {name: r, match: {nth: 1}, action: {transport: reset, fault: InvalidArgs}}", 3, "r",
     "transport reset sends nothing, so fault would never be seen; keep reset (and delay) only"),
    ("hang-and-status", "- {name: r, match: {nth: 1}, action: {transport: hang, status: 500}}", 3, "r",
     "transport hang sends nothing, so status would never be seen"),
    ("truncate-request", "- {name: r, match: {direction: request}, action: {transport: {truncate: 5}}}", 3, "r",
     "transport truncate shapes the response to the device; use direction: response"),
    ("throttle-event", "- {name: r, match: {operation: PostScanJobStatusEvent}, action: {transport: {throttle: 5}}}",
     3, "r", "transport throttle shapes the response to the device; use direction: response"),
    ("status-and-rewrite",
     "- {name: r, match: {nth: 1}, action: {status: 500, rewrite: [{xpath: //dsp:A, remove: true}]}}", 3, "r",
     "status gives its own body, so rewrite has nothing to edit; keep one"),
    ("relates-to-on-request", "- {name: r, match: {direction: request}, action: {addressing: {relates_to: missing}}}",
     3, "r", "addressing relates_to changes a response's RelatesTo; a request has none"),
    ("relates-to-on-event",
     "- {name: r, match: {operation: PostScanJobEndStateEvent}, action: {addressing: {relates_to: wrong}}}", 3, "r",
     "an event has none"),
    ("request-xpath-on-request",
     "- {name: r, match: {direction: request, request_xpath: //dsp:JobToken}, action: {delay: 1}}", 3, "r",
     "request_xpath tests the request a response rule acts on; this rule's direction is request"),
    ("request-xpath-invalid",
     "- {name: r, match: {operation: SendImage, request_xpath: '//['}, action: {delay: 1}}", 3, "r",
     "request_xpath: '//[' is not valid XPath 1.0"),
]


@pytest.mark.parametrize(("rule", "line", "name", "expected"), [c[1:] for c in RULE_CASES],
                         ids=[c[0] for c in RULE_CASES])
def test_rule_errors(rule: str, line: int, name: str, expected: str) -> None:
    found = errors(one_rule(rule))
    assert any(ln == line and who == name and expected in message for ln, who, message in found), found


def test_error_text_names_file_line_and_rule() -> None:
    text = one_rule("- {name: busy, match: {operation: SendImage}, action: {fault: Busy}}")
    with pytest.raises(RuleFileError) as caught:
        parse(text, "busy.yaml")
    assert str(caught.value).startswith("busy.yaml:3: rule 'busy': fault: unknown subcode 'Busy'")


def test_errors_point_at_the_offending_line() -> None:
    text = """\
seed: 1
rules:
  - name: first
    match:
      operation: SendImage
      nth: 0
    action:
      delay: 1
  - name: second
    match:
      client: nowhere
    action:
      transport:
        truncate: lots
"""
    assert errors(text) == [
        (6, "first", "nth: expected a whole number of at least 1, got 0"),
        (11, "second", "client: 'nowhere' is not an IP address or CIDR network (e.g. 192.0.2.10, 10.0.0.0/8, "
                       "2001:db8::/32)"),
        (14, "second", "transport truncate: expected a whole number >= 0, got 'lots' (text)"),
    ]


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = one_rule("- {name: a, match: {nth: 0}, action: {fault: Nope, delay: -1}}")
    messages = [m for _, _, m in errors(text)]
    assert len(messages) == 3
    assert messages[0].startswith("nth:") and messages[1].startswith("fault:") and messages[2].startswith("delay:")


def test_duplicate_names() -> None:
    text = "rules:\n  - {name: a, match: {nth: 1}, action: {delay: 1}}\n  - {name: a, match: {nth: 2}, action: {delay: 1}}\n"
    assert the_error(text) == (3, "a", "name 'a' is already used by the rule on line 2")


def test_aliases_do_not_multiply_work() -> None:
    # a billion-laughs shape: each level refers to the one before it many times
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 12):
        levels.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]")
    text = "\n".join(levels) + "\nrules: []\n"
    found = errors(text)
    assert len(found) == 12 and all("unknown key" in m for _, _, m in found)


def test_yaml_words_that_are_booleans_get_a_hint() -> None:
    line, _, message = the_error(one_rule("- {name: off, match: {nth: 1}, action: {delay: 1}}"))
    assert line == 3 and message == "name: expected text, got False (true/false); YAML reads off as false, quote it: 'off'"


def test_ws_scan_operations_events_and_subcodes() -> None:
    rules = parse(
        "seed: 1\nrules:\n"
        "  - name: busy\n    match: {operation: CreateScanJob}\n"
        "    action: {fault: ServerErrorNotAcceptingJobs}\n"
        "  - name: second-page\n    match: {operation: RetrieveImage, nth_in_job: 2}\n"
        "    action: {fault: 'wscn:ClientErrorJobCancelled'}\n"
        "  - name: end\n    match: {operation: JobEndStateEvent}\n    action: {drop: true}\n",
        "t.yaml").rules
    assert [r.match.operations for r in rules] == [("CreateScanJob",), ("RetrieveImage",),
                                                   ("JobEndStateEvent",)]
    assert rules[1].action.fault == FaultAction("ClientErrorJobCancelled")
    assert rules[2].match.direction == "event"
    line, _, message = the_error(one_rule(
        "- name: r\n  match: {operation: RetrieveImageRequest}\n  action: {drop: true}"))
    assert "use the operation name 'RetrieveImage'" in message
