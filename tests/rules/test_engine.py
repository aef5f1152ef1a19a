"""Matching and decisions: which rules fire for which message, counters,
randomness replayed by a seed, and the state kept across reloads."""

from __future__ import annotations

from typing import Any

import pytest

from dspscope.rules import Engine, Subject
from dspscope.wsdsp import AttachmentData, build
from tests.rules.support import (
    OTHER,
    PNG,
    PSP,
    TOKEN,
    create,
    engine,
    fired,
    rules_of,
    send_image,
    subject,
)


def images(n: int, token: str = TOKEN, side: str = "request") -> list[Subject]:
    return [subject(send_image(token, i), side) for i in range(1, n + 1)]


# ------------------------------------------------------------ what matches


def test_operation_and_direction() -> None:
    e = engine("""
  - {name: images, match: {operation: SendImage, direction: request}, action: {delay: 1}}
  - {name: replies, match: {operation: [SendImage, EndPostScanJob]}, action: {delay: 1}}
""")
    req = send_image()
    assert fired(e, subject(req)) == ["images"]
    assert fired(e, subject(build.response(req), "response", request=req)) == ["replies"]
    assert fired(e, subject(create())) == []


def test_a_fault_reply_matches_its_request_operation() -> None:
    e = engine("  - {name: r, match: {operation: SendImage}, action: {delay: 1}}\n")
    req = send_image()
    reply = build.fault(req, "OperationFailed")
    assert fired(e, subject(reply, "response", request=req)) == ["r"]


def test_events_are_their_own_side() -> None:
    e = engine("  - {name: ends, match: {operation: PostScanJobEndStateEvent}, action: {drop: true}}\n")
    event = build.event("PostScanJobEndStateEvent", {"PostScanJobEndState": {"JobToken": TOKEN}}, to="http://d/e")
    status = build.event("PostScanJobStatusEvent", {"JobStatus": {"JobToken": TOKEN}}, to="http://d/e")
    assert fired(e, subject(event, "event")) == ["ends"]
    assert fired(e, subject(status, "event")) == []
    assert fired(e, subject(event, "request")) == []


@pytest.mark.parametrize(("client", "device", "hit"), [
    ("10.0.0.0/8", "10.1.2.3", True),
    ("10.0.0.0/8", "192.0.2.1", False),
    ("192.0.2.7", "192.0.2.7", True),
    ("192.0.2.7", "192.0.2.8", False),
    ("10.0.0.0/8", "::ffff:10.0.0.9", True),
    ("2001:db8::/32", "2001:db8::1", True),
    ("2001:db8::/32", "[2001:db8::1]", True),
    ("10.0.0.0/8", "printer.local", False),
    ("10.0.0.0/8", None, False),
])
def test_client(client: str, device: str | None, hit: bool) -> None:
    e = engine(f"  - {{name: c, match: {{client: '{client}', direction: request}}, action: {{delay: 1}}}}\n")
    assert fired(e, subject(send_image(), device=device)) == (["c"] if hit else [])


@pytest.mark.parametrize(("xpath", "hit"), [
    ("//dsp:DocumentId = 2", True),
    ("//dsp:DocumentId = 3", False),
    ("//dsp:SendImageRequest/dsp:JobToken", True),
    ("//dsp:CreatePostScanJobRequest", False),
    ("string(//dsp:Format)", True),
    ("string(//dsp:Nothing)", False),
    ("count(//xop:Include)", True),
    ("count(//dsp:Nothing)", False),
    ("/soap:Envelope/soap:Header/wsa:Action[contains(., 'SendImage')]", True),
])
def test_xpath_over_the_envelope(xpath: str, hit: bool) -> None:
    e = engine(f"  - {{name: x, match: {{xpath: \"{xpath}\", direction: request}}, action: {{delay: 1}}}}\n")
    s = subject(send_image(document_id=2), attachments=(AttachmentData("page2@test", PNG),))
    assert s.content_type is not None and s.content_type.startswith("multipart/related")
    assert fired(e, s) == (["x"] if hit else [])


def test_a_response_rule_can_test_the_request_it_answers() -> None:
    """Refuse one user's CreatePostScanJob after the server made the job:
    the user is only in the request; the rule acts on the response."""
    e = engine("  - {name: refuse-admin, match: {operation: CreatePostScanJob, "
               "request_xpath: \"//dsp:UserIdentifier = 'S-1-5-21-1-2-3-500'\"}, "
               "action: {fault: InvalidArgs}}\n")
    admin = build.create_post_scan_job(to="https://s/ScanServer", user="S-1-5-21-1-2-3-500", psp_id=PSP)
    other = build.create_post_scan_job(to="https://s/ScanServer", user="S-1-5-21-1-2-3-501", psp_id=PSP)
    for request, hit in ((admin, True), (other, False)):
        answer = build.response(request, {"JobToken": TOKEN})
        assert fired(e, subject(answer, "response", request=request)) == (["refuse-admin"] if hit else [])
    # a response whose request is not known (or not XML) never fires it
    lone = subject(build.response(admin, {"JobToken": TOKEN}), "response")
    assert fired(e, lone) == []


def test_xpath_never_matches_a_body_that_is_not_xml() -> None:
    e = engine("  - {name: x, match: {xpath: 'true()', direction: request}, action: {delay: 1}}\n")
    assert fired(e, Subject("request", content=b"<a><b></a>", content_type="text/xml")) == []
    assert fired(e, Subject("request", content=b"", content_type=None)) == []
    assert fired(e, Subject("request", content=b"<a/>", content_type="text/xml")) == ["x"]


def test_a_rule_that_fails_to_evaluate_is_reported_and_does_not_fire() -> None:
    class Broken(Subject):
        def tree(self) -> Any:
            raise RuntimeError("parser exploded")

    e = engine("  - {name: x, match: {xpath: 'true()', direction: request}, action: {delay: 1}}\n"
               "  - {name: y, match: {direction: request}, action: {delay: 2}}\n")
    decision = e.decide(Broken("request", content=b"<a/>"))
    assert [f.rule.name for f in decision.firings] == ["y"]
    ((rule, text),) = decision.errors
    assert rule.name == "x" and "parser exploded" in text


# --------------------------------------------------------------- counters


def test_nth_fires_once_on_the_nth_match() -> None:
    e = engine("  - {name: n, match: {operation: SendImage, direction: request, nth: 3}, action: {delay: 1}}\n")
    hits = []
    for s in images(6):
        hits.append(bool(fired(e, s)))
        fired(e, subject(create()))  # not a match: not counted
    assert hits == [False, False, True, False, False, False]


def test_every() -> None:
    e = engine("  - {name: n, match: {operation: SendImage, direction: request, every: 2}, action: {delay: 1}}\n")
    assert [bool(fired(e, s)) for s in images(6)] == [False, True, False, True, False, True]


def test_nth_and_every_start_then_repeat() -> None:
    e = engine("  - {name: n, match: {direction: request, nth: 2, every: 3}, action: {delay: 1}}\n")
    assert [bool(fired(e, s)) for s in images(9)] == [False, True, False, False, True, False, False, True, False]


def test_nth_in_job_counts_per_job_and_operation() -> None:
    e = engine("  - {name: third, match: {operation: [SendImage, GetPostScanJobElements], direction: request,"
               " nth_in_job: 3}, action: {delay: 1}}\n")
    a = images(4, TOKEN)
    b = images(4, OTHER.upper())  # tokens compare normalised
    order = [a[0], b[0], a[1], b[1], b[2], a[2], a[3], b[3]]
    assert [fired(e, s) == ["third"] for s in order] == [False, False, False, False, True, True, False, False]
    polls = [subject(build.get_elements(to="x", token=TOKEN)) for _ in range(3)]
    assert [bool(fired(e, s)) for s in polls] == [False, False, True]


def test_nth_in_job_without_a_token_never_fires() -> None:
    e = engine("  - {name: n, match: {operation: SendImage, direction: request, nth_in_job: 1}, action: {delay: 1}}\n")
    s = subject(send_image())
    s.job_token = None
    assert fired(e, s) == []


def test_nth_in_job_on_create_uses_the_token_of_the_reply() -> None:
    e = engine("  - {name: n, match: {operation: CreatePostScanJob, nth_in_job: 1}, action: {delay: 1}}\n")
    req = create()
    assert fired(e, subject(build.response(req, {"JobToken": TOKEN}), "response", request=req)) == ["n"]
    assert fired(e, subject(build.fault(req, "ServerErrorTemporaryError"), "response", request=req)) == []


def test_times_caps_the_hits() -> None:
    e = engine("  - {name: t, match: {direction: request, times: 2}, action: {delay: 1}}\n")
    assert [bool(fired(e, s)) for s in images(5)] == [True, True, False, False, False]
    assert e.hits("t") == 2


# ------------------------------------------------------------- randomness


def pattern(seed: int | None, n: int = 200, probability: float = 0.3) -> list[bool]:
    e = engine(f"  - {{name: p, match: {{direction: request, probability: {probability}}}, action: {{delay: 1}}}}\n",
               seed=seed)
    return [bool(fired(e, s)) for s in images(n)]


def test_probability_is_replayed_by_the_seed() -> None:
    first = pattern(42)
    assert first == pattern(42)
    assert first != pattern(43)
    assert 30 < sum(first) < 90  # about 0.3 of 200


def test_probability_edges() -> None:
    assert not any(pattern(1, 50, 0.0))
    assert all(pattern(1, 50, 1.0))


def test_without_a_seed_runs_differ() -> None:
    assert pattern(None) != pattern(None)


def test_each_rule_has_its_own_random_sequence() -> None:
    text = """
  - {name: a, match: {direction: request, probability: 0.5}, action: {delay: 1}}
  - {name: b, match: {direction: request, probability: 0.5}, action: {delay: 1}}
"""
    e = engine(text)
    runs = [fired(e, s) for s in images(100)]
    a = [("a" in r) for r in runs]
    b = [("b" in r) for r in runs]
    assert a != b
    # rule a's sequence does not depend on rule b being there
    alone = engine("  - {name: a, match: {direction: request, probability: 0.5}, action: {delay: 1}}\n")
    assert a == [bool(fired(alone, s)) for s in images(100)]


def test_delays_are_drawn_reproducibly_within_bounds() -> None:
    text = "  - {name: d, match: {direction: request}, action: {delay: {mean: 2, jitter: 1}}}\n"

    def delays() -> list[float]:
        e = engine(text)
        return [e.decide(s).firings[0].delay or 0.0 for s in images(50)]

    first = delays()
    assert first == delays()
    assert all(1.0 <= d <= 3.0 for d in first) and len(set(first)) > 40
    fixed = engine("  - {name: d, match: {direction: request}, action: {delay: 0.25}}\n")
    assert fixed.decide(images(1)[0]).firings[0].delay == 0.25


# ------------------------------------------------------------- decisions


def test_rules_fire_in_file_order_until_one_answers() -> None:
    e = engine("""
  - {name: slow, match: {direction: request}, action: {delay: 1}}
  - {name: edit, match: {direction: request}, action: {rewrite: [{xpath: //dsp:Format, text: jfif}]}}
  - {name: refuse, match: {direction: request}, action: {fault: ServerErrorTemporaryError}}
  - {name: never, match: {direction: request}, action: {delay: 5}}
""")
    assert fired(e, images(1)[0]) == ["slow", "edit", "refuse"]
    assert e.hits("never") == 0


@pytest.mark.parametrize("ending", ["transport: reset", "transport: close", "transport: hang", "status: 503"])
def test_ending_actions_stop_later_rules(ending: str) -> None:
    e = engine(f"""
  - {{name: first, match: {{direction: request}}, action: {{{ending}}}}}
  - {{name: second, match: {{direction: request}}, action: {{delay: 1}}}}
""")
    assert fired(e, images(1)[0]) == ["first"]


def test_disabled_rules_do_not_fire_or_count() -> None:
    e = engine("""
  - {name: quiet, enabled: false, match: {direction: request, nth: 2}, action: {delay: 1}}
  - {name: quiet-too, match: {direction: request, enabled: false}, action: {delay: 1}}
""")
    s1, s2, s3 = images(3)
    assert fired(e, s1) == [] and fired(e, s2) == []
    assert e.set_enabled("quiet", True)
    assert fired(e, s3) == []  # its count starts now: this is its first match
    assert fired(e, images(1)[0]) == ["quiet"]
    assert not e.set_enabled("missing", True)
    assert [(s.name, s.enabled, s.hits) for s in e.status()] == [("quiet", True, 1), ("quiet-too", False, 0)]


def test_status_lists_name_enabled_hits_description() -> None:
    e = engine("""
  - {name: a, description: the busy one, match: {operation: SendImage, direction: request}, action: {fault: InvalidArgs}}
  - {name: b, match: {operation: [SendImage, EndPostScanJob]}, action: {delay: [1, 2], status: 503}}
""")
    fired(e, images(1)[0])
    name, enabled, hits, description = e.status()[0]
    assert (name, enabled, hits, description) == ("a", True, 1, "the busy one")
    assert e.status()[1].description == "delay 1-2s, status 503 on SendImage/EndPostScanJob response"


def test_firing_record_is_the_metadata_shape() -> None:
    e = engine("  - {name: a, match: {direction: request}, action: {delay: [1, 2], fault: InvalidArgs}}\n")
    (firing,) = e.decide(images(1)[0]).firings
    record = firing.record()
    assert set(record) == {"name", "action", "side", "detail"}
    assert record["name"] == "a" and record["action"] == "delay+fault" and record["side"] == "request"
    assert record["detail"].startswith("delay 1") and record["detail"].endswith("s, fault InvalidArgs")
    assert firing.record("boom")["error"] == "boom"


def test_duplicate_message_id_uses_the_previous_message_of_the_side() -> None:
    e = engine("  - {name: dup, match: {operation: [SendImage, EndPostScanJob]}, "
               "action: {addressing: {message_id: duplicate}}}\n")
    first = send_image()
    reply = build.response(first)
    (firing,) = e.decide(subject(reply, "response", request=first)).firings
    assert firing.duplicate_id == first.message_id  # nothing earlier: the request's own
    second = send_image(document_id=2)
    (firing,) = e.decide(subject(build.response(second), "response", request=second)).firings
    assert firing.duplicate_id == reply.message_id


def test_duplicate_message_id_on_requests_waits_for_an_earlier_one() -> None:
    e = engine("  - {name: dup, match: {direction: request}, action: {addressing: {message_id: duplicate}}}\n")
    one, two = send_image(), send_image(document_id=2)
    assert fired(e, subject(one)) == []
    (firing,) = e.decide(subject(two)).firings
    assert firing.duplicate_id == one.message_id


# ------------------------------------------------------------------ reloads


def test_reload_keeps_the_state_of_unchanged_rules() -> None:
    text = """
  - {name: keep, match: {direction: request, nth: 3}, action: {delay: 1}}
  - {name: change, match: {direction: request, nth: 3}, action: {delay: 1}}
"""
    e = engine(text)
    for s in images(3):
        fired(e, s)
    assert e.hits("keep") == 1 and e.hits("change") == 1
    e.set_enabled("keep", False)
    e.replace([rules_of(text.replace("change, match: {direction: request, nth: 3}",
                                     "change, match: {direction: request, nth: 1}"))])
    assert [s.enabled for s in e.status()] == [False, True]
    assert e.hits("change") == 1  # hits survive by name
    assert fired(e, images(1)[0]) == ["change"]  # counter started again


def test_names_must_be_unique_across_files() -> None:
    a = rules_of("  - {name: same, match: {nth: 1}, action: {delay: 1}}\n")
    with pytest.raises(ValueError, match="'same' is used in"):
        Engine([a, a])


def test_decide_with_no_rules() -> None:
    assert Engine().decide(images(1)[0]).firings == ()


@pytest.mark.parametrize(("action", "described"), [
    ("{rewrite: [{xpath: //a, remove: true}]}", "rewrite (1 edit)"),
    ("{rewrite: [{xpath: //a, remove: true}, {xpath: //b, text: x}]}", "rewrite (2 edits)"),
    ("{addressing: {relates_to: missing, message_id: duplicate}}", "addressing relates_to missing, message_id duplicate"),
    ("{malformed: wrong-namespace}", "malformed wrong-namespace"),
    ("{transport: {truncate: 10}, delay: 2}", "delay 2s, truncate 10"),
    ("{transport: hang}", "hang"),
])
def test_actions_describe_themselves(action: str, described: str) -> None:
    (rule,) = rules_of(f"  - {{name: d, match: {{direction: response}}, action: {action}}}\n").rules
    assert rule.action.describe() == described


def test_job_counters_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from dspscope.rules import engine as rules_engine

    monkeypatch.setattr(rules_engine, "MAX_JOBS_PER_RULE", 2)
    e = engine("  - {name: n, match: {operation: SendImage, direction: request, nth_in_job: 2}, action: {delay: 1}}\n")
    tokens = [f"{n:08d}-1234-4abc-8def-0123456789ab" for n in range(3)]
    for token in tokens:
        fired(e, images(1, token)[0])
    assert fired(e, images(1, tokens[2])[0]) == ["n"]  # still counted
    assert fired(e, images(1, tokens[0])[0]) == []  # forgotten: counts as its first again
