"""The live fixture: seed pages replayed on a virtual clock, over real HTTP.

The fixture is only useful if the aggregator cannot tell it from the real
page growing: the complete page must be the seed, every intermediate page must
extract to a subset of the final entries with the same keys, hashes and times,
and the HTTP validators must behave like a well-run site's. Everything here
runs the real extractor and a real uvicorn server; the clocks are injected so
that nothing sleeps.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aggregator.config import SourceConfig
from aggregator.core.errors import AggregatorError, ExtractError
from aggregator.core.model import ExtractedEntry, content_hash
from aggregator.devtools.fixtures import (
    Timeline,
    VirtualClock,
    default_start,
    fixture_app,
    load_timelines,
)
from aggregator.ingest.extract import extract
from aggregator.ingest.extract.liveblog_text import normalised_lines, parse_stamp_line
from aggregator.ingest.poll import source_context
from tests.asgi_server import running
from tests.conftest import Project
from tests.support import AJ_SEED, DK_SEED, EXTRACT_FETCHED_AT, REPO

SEED_ENTRIES = 46
WALL = 1_600_000_000.0
AJ_FIRST = datetime(2020, 9, 27, 8, 39, tzinfo=UTC)
AJ_LAST = datetime(2020, 9, 27, 19, 50, tzinfo=UTC)
DK_FIRST = datetime(2020, 9, 27, 18, 52, tzinfo=UTC)
DK_LAST = datetime(2020, 9, 27, 23, 9, tzinfo=UTC)


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def entries(
    source: SourceConfig, body: bytes, fetched_at: datetime = EXTRACT_FETCHED_AT
) -> dict[str, ExtractedEntry]:
    page = extract(
        body, source_context(source, fetched_at, "text/plain; charset=utf-8"), source.format
    )
    keyed = {entry.key: entry for entry in page.entries}
    assert len(keyed) == len(page.entries), "duplicate keys"
    return keyed


def fingerprint(entry: ExtractedEntry) -> tuple[str, datetime]:
    return content_hash(entry.title, entry.content_html), entry.published


@pytest.fixture
def timelines(project: Project) -> dict[str, Timeline]:
    return load_timelines(project.settings())


def seed_file(project: Project, name: str) -> Path:
    return project.seeds / {"aljazeera": AJ_SEED, "dailyknight": DK_SEED}[name]


# --- timelines ---------------------------------------------------------------


def test_complete_page_is_the_seed_and_extracts_identically(
    project: Project, timelines: dict[str, Timeline]
) -> None:
    settings = project.settings()
    total = 0
    for name, timeline in timelines.items():
        source = settings.source(name)
        seed = seed_file(project, name).read_bytes()
        complete = timeline.page_at(timeline.last)
        assert complete == seed
        assert timeline.page_at(timeline.last + timedelta(days=30)) == seed
        served = entries(source, complete)
        original = entries(source, seed)
        assert {k: fingerprint(e) for k, e in served.items()} == {
            k: fingerprint(e) for k, e in original.items()
        }
        total += len(served)
    assert total == SEED_ENTRIES


def test_reveal_times_and_counts(timelines: dict[str, Timeline]) -> None:
    aj, dk = timelines["aljazeera"], timelines["dailyknight"]
    assert (len(aj.sections), len(aj.reveal_times), aj.first, aj.last) == (
        40,
        40,
        AJ_FIRST,
        AJ_LAST,
    )
    assert (len(dk.sections), len(dk.reveal_times), dk.first, dk.last) == (5, 5, DK_FIRST, DK_LAST)
    assert list(aj.reveal_times) == sorted(aj.reveal_times)
    # Al Jazeera is newest first: its sections' times fall down the page; the Daily Knight's rise.
    assert [s.appears for s in aj.sections] == sorted(
        (s.appears for s in aj.sections), reverse=True
    )
    assert [s.appears for s in dk.sections] == sorted(s.appears for s in dk.sections)
    assert default_start(list(timelines.values())) == AJ_FIRST - timedelta(minutes=1)


@pytest.mark.parametrize("name", ["aljazeera", "dailyknight"])
def test_page_grows_with_stable_keys(
    project: Project, timelines: dict[str, Timeline], name: str
) -> None:
    source = project.settings().source(name)
    timeline = timelines[name]
    full = {
        key: fingerprint(e) for key, e in entries(source, timeline.page_at(timeline.last)).items()
    }
    counts: list[int] = []
    previous = timeline.page_at(timeline.first - timedelta(seconds=1))
    for when in timeline.reveal_times:
        page = timeline.page_at(when)
        # Read as the aggregator would at that very moment: nothing may be from the future.
        seen = entries(source, page, fetched_at=when)
        assert set(seen) <= set(full)
        for key, entry in seen.items():
            assert fingerprint(entry) == full[key], key
            assert entry.published <= when
        dated = [e for e in seen.values() if e.key != "lead"]
        assert len(dated) == timeline.visible_at(when)
        assert max(e.published for e in dated) == when
        # One instant earlier the page is the previous version.
        assert timeline.page_at(when - timedelta(microseconds=1)) == previous
        # New updates land where the page puts them: on top if newest first, else below.
        header = timeline.header.encode()
        if name == "aljazeera":
            assert page.startswith(header) and page.endswith(previous[len(header) :])
        else:
            assert page.startswith(previous)
        counts.append(len(seen))
        previous = page
    assert counts == sorted(counts)
    assert counts[-1] == len(full)


def test_before_the_first_update_only_the_header_shows(
    project: Project, timelines: dict[str, Timeline]
) -> None:
    settings = project.settings()
    for name, timeline in timelines.items():
        page = timeline.page_at(timeline.first - timedelta(minutes=1))
        assert page == timeline.header.encode()
        assert timeline.visible_at(timeline.first - timedelta(minutes=1)) == 0
        assert timeline.version_at(timeline.first - timedelta(minutes=1)) is None
        lines = normalised_lines(page.decode())
        assert [line for line in lines if line and parse_stamp_line(line)] == []
        if name == "aljazeera":
            with pytest.raises(ExtractError, match="no timestamped update line"):
                entries(settings.source(name), page)
    # The Daily Knight's lead story is in its header, so it is there from the start,
    # dated by the configured day, and a poll then finds it rather than failing.
    assert b"YEREVAN, ARMENIA" in timelines["dailyknight"].header.encode()
    early = entries(settings.source("dailyknight"), timelines["dailyknight"].header.encode())
    assert list(early) == ["lead"]


def test_naive_times_are_refused(timelines: dict[str, Timeline]) -> None:
    with pytest.raises(ValueError, match="aware"):
        timelines["aljazeera"].page_at(datetime(2020, 9, 27, 12, 0))


def test_only_replayable_sources_make_timelines(project: Project, tmp_path: Path) -> None:
    source = project.settings().source("aljazeera")
    with pytest.raises(AggregatorError, match="file:// URL"):
        Timeline.from_source(replace(source, url="https://example.org/live"))
    with pytest.raises(AggregatorError, match="cannot read"):
        Timeline.from_source(replace(source, url=(tmp_path / "missing.txt").as_uri()))
    with pytest.raises(AggregatorError, match="set `date`"):
        Timeline.from_source(replace(source, day=None))
    with pytest.raises(AggregatorError, match="relative to the fetch"):
        Timeline.from_body(source, b"Title of the page here\n\n12m ago - Something\n\nBody.\n")
    with pytest.raises(AggregatorError, match="no timestamped update line"):
        Timeline.from_body(source, b"Just a title line\n\nAnd a paragraph.\n")
    with pytest.raises(AggregatorError, match="plain-text"):
        Timeline.from_source(replace(source, format="feed"))


def test_sources_without_a_file_are_skipped(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    settings = project.settings()
    web = replace(settings.sources[1], url="https://example.org/live")
    mixed = replace(settings, sources=(settings.sources[0], web))
    assert list(load_timelines(mixed)) == ["aljazeera"]
    assert "skipping dailyknight" in caplog.text
    with pytest.raises(AggregatorError, match="no file:// source"):
        load_timelines(replace(settings, sources=(web,)))


# --- the virtual clock -------------------------------------------------------


def test_virtual_clock_runs_fast_from_its_start() -> None:
    real = FakeMonotonic()
    start = datetime(2020, 9, 27, 8, 38, tzinfo=UTC)
    clock = VirtualClock(start, 600, monotonic=real, wall=lambda: WALL)
    assert clock.now() == start
    real.advance(1.5)
    assert clock.now() == start + timedelta(minutes=15)
    assert clock.wall_time(start + timedelta(minutes=10)) == WALL + 1.0
    with pytest.raises(AggregatorError, match="positive"):
        VirtualClock(start, 0)
    with pytest.raises(AggregatorError, match="positive"):
        VirtualClock(start, float("nan"))


# --- HTTP --------------------------------------------------------------------


def http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


def test_http_pages_validators_and_growth(timelines: dict[str, Timeline]) -> None:
    real = FakeMonotonic()
    start = AJ_FIRST - timedelta(minutes=1)
    clock = VirtualClock(start, 60, monotonic=real, wall=lambda: WALL)  # one minute per second
    aj = timelines["aljazeera"]
    with running(fixture_app(timelines, clock)) as base, httpx.Client(base_url=base) as client:
        first = client.get("/aljazeera")
        assert first.status_code == 200
        assert first.headers["content-type"] == "text/plain; charset=utf-8"
        assert first.content == aj.header.encode()
        etag = first.headers["etag"]
        assert etag == f'"{hashlib.sha256(first.content).hexdigest()}"'
        assert first.headers["last-modified"] == http_date(WALL)

        again = client.get("/aljazeera", headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b"")
        assert again.headers["etag"] == etag
        assert "content-type" not in again.headers
        listed = client.get("/aljazeera", headers={"If-None-Match": f'"other", W/{etag}'})
        assert listed.status_code == 304
        since = client.get("/aljazeera", headers={"If-Modified-Since": http_date(WALL)})
        assert (since.status_code, since.content) == (304, b"")
        older = client.get("/aljazeera", headers={"If-Modified-Since": http_date(WALL - 1)})
        assert older.status_code == 200
        # If-None-Match decides whenever it is sent, even against a matching date.
        overruled = client.get(
            "/aljazeera", headers={"If-None-Match": '"other"', "If-Modified-Since": http_date(WALL)}
        )
        assert overruled.status_code == 200
        garbage = client.get("/aljazeera", headers={"If-Modified-Since": "not a date"})
        assert garbage.status_code == 200

        real.advance(1.0)  # virtual 08:39, the first update
        grown = client.get("/aljazeera", headers={"If-None-Match": etag})
        assert grown.status_code == 200
        assert grown.content == aj.page_at(AJ_FIRST)
        assert grown.headers["etag"] != etag
        assert grown.headers["last-modified"] == http_date(WALL + 1)
        assert parsedate_to_datetime(grown.headers["last-modified"]) > parsedate_to_datetime(
            first.headers["last-modified"]
        )

        real.advance(10.0)  # 08:49: nothing new, so nothing changes, not even the date
        still = client.get("/aljazeera")
        assert (still.headers["etag"], still.headers["last-modified"]) == (
            grown.headers["etag"],
            grown.headers["last-modified"],
        )

        real.advance(100_000.0)  # long after the last update
        done = client.get("/aljazeera")
        assert done.content == aj.page_at(AJ_LAST)
        elapsed = (AJ_LAST - start).total_seconds() / 60
        assert done.headers["last-modified"] == http_date(WALL + elapsed)

        head = client.head("/aljazeera")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["etag"] == done.headers["etag"]
        assert head.headers["content-length"] == str(len(done.content))
        assert (
            client.head("/aljazeera", headers={"If-None-Match": head.headers["etag"]}).status_code
            == 304
        )


def test_http_unknown_names_and_the_index(timelines: dict[str, Timeline]) -> None:
    real = FakeMonotonic()
    clock = VirtualClock(AJ_FIRST - timedelta(minutes=1), 600, monotonic=real, wall=lambda: WALL)
    with running(fixture_app(timelines, clock)) as base, httpx.Client(base_url=base) as client:
        missing = client.get("/nosuch")
        assert missing.status_code == 404
        assert "nosuch" in missing.text and "aljazeera" in missing.text
        assert "Traceback" not in missing.text
        assert client.get("/a/b").status_code == 404

        index = client.get("/")
        assert index.status_code == 200
        assert index.json() == {
            "virtual_now": "2020-09-27T08:38:00Z",
            "speed": 600.0,
            "sources": {
                "aljazeera": {"url": "/aljazeera", "visible": 0, "total": 40},
                "dailyknight": {"url": "/dailyknight", "visible": 0, "total": 5},
            },
        }
        real.advance(60.0)  # ten virtual hours: 18:38
        middle = client.get("/").json()
        assert middle["virtual_now"] == "2020-09-27T18:38:00Z"
        assert middle["sources"]["aljazeera"]["visible"] == 35
        assert middle["sources"]["dailyknight"]["visible"] == 0
        real.advance(60.0)  # 04:38 the next day: everything is out
        done = client.get("/").json()["sources"]
        assert all(s["visible"] == s["total"] for s in done.values())
        assert client.head("/").status_code == 200


def test_serve_fixtures_prints_where_and_serves(project: Project) -> None:
    command = ["--config", str(project.config), "fixtures", "serve", "--port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "aggregator", *command],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(3)]
        aj, dk, clock_line = lines
        assert aj.startswith("aljazeera    http://127.0.0.1:")
        assert aj.endswith("/aljazeera  (40 updates, 08:39-19:50 UTC)")
        assert dk.startswith("dailyknight  http://127.0.0.1:")
        assert dk.endswith("/dailyknight  (5 updates, 18:52-23:09 UTC)")
        assert clock_line == "fixture clock: 2020-09-27T08:38:00Z at 600x; Ctrl-C to stop"
        url = aj.split()[1]
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        assert response.text.startswith("Armenia-Azerbaijan clashes: Live news")
    finally:
        process.terminate()
        process.wait(timeout=10)
    # uvicorn shuts down gracefully and re-raises the signal it caught; the
    # command takes that as the requested stop it is and exits 0.
    stderr = process.stderr.read() if process.stderr else ""
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


# --- the test server helper --------------------------------------------------


def test_running_stops_the_server_and_reports_one_that_cannot_start() -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
    with running(app) as base:
        assert httpx.get(base + "/", timeout=5).text == "ok"
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/", timeout=5)

    async def connect() -> None:
        raise RuntimeError("no database")

    @asynccontextmanager
    async def broken(app: Starlette) -> AsyncIterator[None]:
        await connect()
        yield

    with (
        pytest.raises(RuntimeError, match="stopped before it started"),
        running(Starlette(lifespan=broken)),
    ):
        pass  # pragma: no cover
