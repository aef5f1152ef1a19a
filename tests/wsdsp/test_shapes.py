"""The shape cache (wsdsp.shapes) gives exactly what parsing and walking
give: on the spec's examples, on messages whose texts are mutated in every
way that matters (markup, references, forbidden characters, odd booleans,
changed Dialects, bad UTF-8), and on shapes it must refuse to record."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dspscope.wsdsp import Message, decode, encode, shapes
from tests.wsdsp import support

GAP = re.compile(rb">([^<]*)<")


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    shapes.clear()
    yield
    shapes.clear()
    shapes.ENABLED = True


def parsed(content: bytes, content_type: str | None = None) -> Message:
    """decode with the shape cache off: the hardened parser and the full walk."""
    shapes.ENABLED = False
    try:
        return decode(content, content_type)
    finally:
        shapes.ENABLED = True


def everything(m: Message) -> str:
    return json.dumps([m.to_json(), m.headers, m.namespaces, m.extensions, m.reply_to,
                       m.addressing, m.fault is None])


def learned(content: bytes, content_type: str | None = None) -> bool:
    """Teach the cache the shape of ``content``; whether it took it."""
    for _ in range(3):
        decode(content, content_type)
    xml = content
    return shapes.walked(xml) is not None


def examples(spec_dir: Path) -> list[support.Example]:
    return [support.load_example(spec_dir, p.name)
            for p in sorted((spec_dir / "dsm-docs").glob("*-example.md"))]


def test_spec_examples_decode_the_same_from_their_shape(spec_dir: Path) -> None:
    hits = []
    for example in examples(spec_dir):
        if example.content_type is not None:  # MTOM: its XML root part takes the same path
            continue
        slow = parsed(example.content)
        if learned(example.content):
            hits.append(example.name)
        fast = decode(example.content)
        assert everything(fast) == everything(slow), example.name
    assert "createpostscanjobrequest-example.md" in hits
    assert len(hits) >= 10


def test_a_new_message_id_matches_the_shape_and_is_read_from_the_new_text(spec_dir: Path) -> None:
    content = support.load_example(spec_dir, "createpostscanjobrequest-example.md").content
    assert learned(content)
    other = content.replace(b"c7a18640-1e15-48ac-8326-0026a5719d98",
                            b"0b5ad0c8-2f9b-44a7-9e39-5b0bd0b7d7b1")
    assert shapes.walked(other) is not None
    assert decode(other).message_id == "urn:uuid:0b5ad0c8-2f9b-44a7-9e39-5b0bd0b7d7b1"
    assert everything(decode(other)) == everything(parsed(other))


def test_shapes_are_learned_on_the_second_sight_only() -> None:
    content = encode(support.built_messages()["create"][0]).content
    decode(content)
    assert shapes.walked(content) is None
    decode(content)
    assert shapes.walked(content) is not None


@pytest.mark.parametrize("name", ["fault-InvalidArgs", "fault-vendor"])
def test_faults_are_never_recorded(name: str) -> None:
    built = support.built_messages()
    assert name in built, f"the builders make no {name} any more"
    content = encode(built[name][0]).content
    assert not learned(content)


@pytest.mark.parametrize("edit", [
    (b"<soap:Body>", b"<soap:Body><!-- a comment -->"),
    (b"<soap:Body>", b"<soap:Body><?pi x?>"),
    (b"SampleScanJob", b"Sample&amp;ScanJob"),
    (b"SampleScanJob", b"<![CDATA[SampleScanJob]]>"),
    (b"CanAddAddresses=\"false\"", b"CanAddAddresses=\"false\" x=\">\""),
])
def test_shapes_it_cannot_vouch_for_are_parsed_every_time(spec_dir: Path,
                                                          edit: tuple[bytes, bytes]) -> None:
    content = support.load_example(spec_dir, "createpostscanjobrequest-example.md").content
    assert edit[0] in content
    changed = content.replace(edit[0], edit[1], 1)
    assert not learned(changed)
    assert everything(decode(changed)) == everything(parsed(changed))


def test_values_reach_the_builder_as_constants_not_code(spec_dir: Path) -> None:
    content = support.load_example(spec_dir, "createpostscanjobrequest-example.md").content
    hostile = content.replace(b'CanAddAddresses="false"',
                              b"CanAddAddresses=\"false\" x=\"'); raise SystemExit(') #\"", 1)
    hostile = hostile.replace(b"SampleScanJob", b"{K[0]}'\")\\n import os", 1)
    assert learned(hostile)
    assert everything(decode(hostile)) == everything(parsed(hostile))


def test_the_cache_is_bounded() -> None:
    base = encode(support.built_messages()["create"][0]).content
    for i in range(shapes.MAX_KEYS + 20):
        tagged = base.replace(b"<soap:Envelope", f"<soap:Envelope data-n{i}=\"1\"".encode(), 1)
        learned(tagged)
    assert len(shapes._shapes) <= shapes.MAX_KEYS


# ---------------------------------------------------------------- properties

TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from([
        "", " ", "\n", "\r\n", "true", "false", "1", "0", " true ", "yes", "-3", "12", "1e3",
        "&", "&amp;", "&lt;", "<", "<x>", "]]>", "]]", "\x00", "\x0b", "\ufffe", "\r", "a\rb",
        "dsp:JobStatus", "x:y", "S-1-5-21-1-2-3-500", "{C4F199C7-6876-4549-A86E-A85035952448}",
        "urn:uuid:c4f199c7-6876-4549-a86e-a85035952448", "\u00e9t\u00e9", "\U0001f4c4",
        "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/email",
    ]),
)
PROPERTY = settings(max_examples=250, deadline=timedelta(seconds=2),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _seeds() -> list[bytes]:
    built = support.built_messages()
    return [encode(built[name][0]).content
            for name in ("create", "elements-response", "status-event", "transfer-get-response")
            if name in built]


SEEDS = _seeds()


def _mutate(content: bytes, edits: list[tuple[int, str]], raw: bytes | None) -> bytes:
    gaps = list(GAP.finditer(content))
    out = bytearray(content)
    for index, text in sorted({i % len(gaps): t for i, t in edits}.items(), reverse=True):
        gap = gaps[index]
        out[gap.start(1) : gap.end(1)] = text.encode("utf-8", "surrogatepass")
    if raw is not None and gaps:
        where = gaps[len(gaps) // 2].start(1)
        out[where:where] = raw
    return bytes(out)


@PROPERTY
@given(seed=st.sampled_from(range(len(SEEDS))),
       edits=st.lists(st.tuples(st.integers(0, 10_000), TEXTS), min_size=1, max_size=6),
       raw=st.one_of(st.none(), st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbf\xbe"])))
def test_mutated_texts_decode_the_same_either_way(seed: int, edits: list[tuple[int, str]],
                                                  raw: bytes | None) -> None:
    template = SEEDS[seed]
    learned(template)
    mutated = _mutate(template, edits, raw)
    assert everything(decode(mutated)) == everything(parsed(mutated))


def test_junk_does_not_grow_the_cache_without_bound() -> None:
    for i in range(10 * shapes.MAX_KEYS):
        decode(f"not xml at all {i} ".encode() * 50)
        decode(f"<x{i}>".encode())
    assert len(shapes._seen) <= 4 * shapes.MAX_KEYS
    assert all(len(key) <= 2 * shapes._KEY_PART + 1 for key in shapes._seen)


def test_messages_that_never_repeat_a_shape_are_given_up() -> None:
    """An attribute named anew in every message makes every one a new
    shape: once the places are full and misses go on, the key is not tried
    any more, and the messages still decode the same."""
    built = support.built_messages()["send-image"][0]
    first = None
    for i in range(shapes.MAX_SHAPES_PER_KEY * 3 + shapes._GIVE_UP_AFTER):
        content = encode(built).content.replace(b"<xop:Include ", f"<xop:Include n{i}=\"1\" ".encode())
        if first is None:
            first = content
        got = decode(content)
        assert everything(got) == everything(parsed(content))
    assert any(value is shapes._UNSTEADY for value in shapes._shapes.values())
    assert first is not None and shapes.walked(first) is None


def test_a_new_part_id_in_every_upload_is_one_shape_read_from_the_new_text() -> None:
    """The xop:Include href (the MTOM part id) is a text group: every
    SendImage of a job is one shape, and the part id, the include and the
    "@href" field are the new message's."""
    built = support.built_messages()["send-image"][0]
    template = encode(built).content
    assert learned(template)
    for i in range(3 * shapes.MAX_SHAPES_PER_KEY):
        content = template.replace(b"cid:page7@device", f"cid:{i}.part@host-{i}".encode())
        assert shapes.walked(content) is not None
        got = decode(content)
        assert everything(got) == everything(parsed(content))
        assert f"cid:{i}.part@host-{i}" in everything(got)
    assert sum(len(v) for v in shapes._shapes[next(iter(shapes._shapes))].values()) == 1


@PROPERTY
@given(value=TEXTS, quote=st.sampled_from(['"', "'"]))
def test_mutated_part_ids_decode_the_same_either_way(value: str, quote: str) -> None:
    """Every kind of text in the href (quotes, markup, references, tabs and
    line ends the parser would normalise) gives what parsing gives."""
    template = encode(support.built_messages()["send-image"][0]).content
    template = template.replace(b'href="cid:page7@device"', f"href={quote}cid:page7@device{quote}".encode())
    learned(template)
    mutated = template.replace(b"cid:page7@device", value.encode("utf-8", "surrogatepass"))
    assert everything(decode(mutated)) == everything(parsed(mutated))


def test_mtom_uploads_with_new_part_ids_find_their_parts_either_way() -> None:
    """Through the MIME package: the include read from the new text is the
    one the binding checks use (a part found, or reported missing)."""
    from tests.wsdsp.test_mtom import package, send_image, xml_of

    def both(i: int, part: str) -> tuple[str, str]:
        body, ct = package(xml_of(send_image("jfif", content_id=f"img{i}@dev")), [(part, b"\xff\xd8\xff" + bytes(64))])
        fast, slow = decode(body, ct), parsed(body, ct)
        return (json.dumps([everything(fast), sorted(f.code for f in fast.findings), [a.content_id for a in fast.attachments]]),
                json.dumps([everything(slow), sorted(f.code for f in slow.findings), [a.content_id for a in slow.attachments]]))

    for i in range(3):
        both(i, f"img{i}@dev")
    hits = shapes.walked(xml_of(send_image("jfif", content_id="img99@dev"))) is not None
    assert hits
    for i in range(10, 16):
        fast, slow = both(i, f"img{i}@dev" if i % 2 else "other@dev")
        assert fast == slow
        assert ("mtom.attachment-missing" in fast) is (i % 2 == 0)
