"""Pure parts of the simulators: the job phase table, expiry parsing, file
names from hostile input, and generated images."""

from __future__ import annotations

import datetime as dt
import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from dspscope.sim import images
from dspscope.sim.eventing import format_duration, parse_datetime, parse_duration
from dspscope.sim.jobs import END_STATE_EVENT, JobBook
from dspscope.sim.store import ImageStore, safe_component
from dspscope.wsdsp import RemoteProtocolError, build
from dspscope.wsdsp.jobs import TRANSITIONS, JobState
from dspscope.wsdsp.sniff import sniff_format
from tests.sim.support import create_request

# ------------------------------------------------------------------- phases


@pytest.mark.parametrize(
    ("steps", "final"),
    [
        (["SendImage", "SendImage", "EndPostScanJob"], JobState.ENDED),
        (["EndPostScanJob"], JobState.ENDED),
        (["SendImage", "CancelPostScanJob"], JobState.CANCELED),
        (["EndPostScanJob", END_STATE_EVENT], JobState.FINISHED),
        (["SendImage", "GetPostScanJobElements"], JobState.OPEN),
    ],
)
def test_allowed_sequences(steps: list[str], final: JobState) -> None:
    book = JobBook()
    job = book.create(create_request("urn:x"), "127.0.0.1")
    for step in steps:
        job.step(step)
    assert job.state is final


@pytest.mark.parametrize("state", [JobState.ENDED, JobState.CANCELED, JobState.FINISHED])
@pytest.mark.parametrize("operation", ["SendImage", "EndPostScanJob", "CancelPostScanJob"])
def test_nothing_follows_the_end(state: JobState, operation: str) -> None:
    assert (state, operation) not in TRANSITIONS
    job = JobBook().create(create_request("urn:x"), "127.0.0.1")
    job.state = state
    with pytest.raises(RemoteProtocolError) as caught:
        job.step(operation)
    assert caught.value.subcode == "OperationFailed"


def test_too_many_open_jobs_is_a_temporary_error() -> None:
    book = JobBook(max_open=2)
    for _ in range(2):
        book.create(create_request("urn:x"), "d")
    with pytest.raises(RemoteProtocolError) as caught:
        book.create(create_request("urn:x"), "d")
    assert caught.value.subcode == "ServerErrorTemporaryError"


def test_finished_jobs_are_bounded() -> None:
    book = JobBook(max_finished=3)
    tokens = []
    for _ in range(5):
        job = book.create(create_request("urn:x"), "d")
        book.cancel(build.job_request("CancelPostScanJob", to="urn:x", token=job.token))
        assert job.state is JobState.FINISHED and job.completed_state == "Canceled"
        tokens.append(job.token)
    assert list(book.jobs) == tokens[2:]


def test_the_first_job_to_finish_is_forgotten_first() -> None:
    book = JobBook(max_finished=1)
    first, second = (book.create(create_request("urn:x"), "d") for _ in range(2))
    second.step("EndPostScanJob")
    second.complete(book.now())
    first.step("EndPostScanJob")
    first.complete(book.now())
    assert list(book.jobs) == [first.token]


def test_a_job_holds_an_open_slot_until_its_end_state() -> None:
    book = JobBook(max_open=2)
    ended = book.create(create_request("urn:x"), "d")
    book.create(create_request("urn:x"), "d")
    book.end(build.job_request("EndPostScanJob", to="urn:x", token=ended.token))
    assert book.open_jobs == 2  # ended, its filters not run yet
    with pytest.raises(RemoteProtocolError):
        book.create(create_request("urn:x"), "d")
    ended.complete(book.now())
    assert book.open_jobs == 1
    book.create(create_request("urn:x"), "d")
    assert book.open_jobs == 2


# ------------------------------------------------------------------- expiry


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT1H", 3600),
        ("PT90M", 5400),
        ("P1DT2H", 93600),
        ("PT0.5S", 0.5),
        ("P1Y", 365 * 86400),
        ("-PT5M", -300),
        (" PT10S ", 10),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    parsed = parse_duration(text)
    assert parsed is not None and parsed.total_seconds() == seconds


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "1H", "PTH", "P1H", "soon", "2025-01-01T00:00:00Z"]
)
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_duration_round_trip_and_datetimes() -> None:
    assert format_duration(dt.timedelta(hours=1, minutes=2, seconds=3)) == "PT1H2M3S"
    assert format_duration(dt.timedelta(0)) == "PT0S"
    moment = parse_datetime("2030-01-02T03:04:05Z")
    assert moment == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    naive = parse_datetime("2030-01-02T03:04:05")
    assert naive is not None and naive.tzinfo is dt.UTC
    assert parse_datetime("PT1H") is None


# -------------------------------------------------------------------- store


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("S-1-5-21-1-2-3-1013", "S-1-5-21-1-2-3-1013"),
        ("../../etc/passwd", "etc_passwd"),
        ("..", "fallback"),
        ("", "fallback"),
        ("a/b\\c:d", "a_b_c_d"),
        ("CON\x00x", "CON_x"),
        (".hidden", "hidden"),
        ("Rechnungen März", "Rechnungen_M_rz"),
        ("x" * 500, "x" * 100),
    ],
)
def test_safe_component(text: str, expected: str) -> None:
    assert safe_component(text, "fallback") == expected


def test_store_never_leaves_its_root_and_never_overwrites(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "root")
    store.prepare()
    staged = [
        (store.stage("tok", n, memoryview(b"data%d" % n)), "tiff-multi-g4") for n in range(1, 21)
    ]
    halves = [staged[:10], staged[10:]]
    out: list[list[Path]] = []
    threads = [
        threading.Thread(target=lambda h=h: out.append(store.commit("../..", "../../x", h)))
        for h in halves
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    paths = sorted(p for batch in out for p in batch)
    assert len(set(paths)) == 20
    assert all(p.parent == tmp_path / "root" / "unknown-user" for p in paths)
    assert sorted(p.name for p in paths) == sorted(f"x-{n}.tif" for n in range(1, 21))
    assert list(store.incoming.iterdir()) == []


# ------------------------------------------------------------------- images


@pytest.mark.parametrize("fmt", images.supported())
def test_generated_images_are_valid_and_near_the_size(fmt: str) -> None:
    data = images.generate(fmt, 40_000, 3)
    assert sniff_format(data) == fmt
    assert 0.7 * 40_000 <= len(data) <= 1.3 * 40_000
    if fmt == "pdf-a":
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        return
    if fmt == "dib":
        data = _with_bmp_file_header(data)
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        if fmt.startswith("tiff-multi"):
            assert getattr(opened, "n_frames", 1) > 1


def _with_bmp_file_header(dib: bytes) -> bytes:
    """DSM's dib is a BMP without its 14-byte file header; put one back to open it."""
    header_size = int.from_bytes(dib[0:4], "little")
    bits = int.from_bytes(dib[14:16], "little")
    colours = int.from_bytes(dib[32:36], "little") or (1 << bits if bits <= 8 else 0)
    offset = 14 + header_size + 4 * colours
    return (
        b"BM"
        + (14 + len(dib)).to_bytes(4, "little")
        + b"\0\0\0\0"
        + offset.to_bytes(4, "little")
        + dib
    )


def test_images_are_cached_and_seeded() -> None:
    first = images.generate("png", 20_000, 11)
    assert images.generate("png", 20_000, 11) is first
    assert images.generate("png", 20_000, 12) != first


def test_unsupported_formats_say_what_is() -> None:
    with pytest.raises(ValueError, match="png"):
        images.generate("xps", 1000)
