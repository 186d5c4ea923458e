"""The web server over a real SQLite log, through real uvicorn and real HTTP clients."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator, Mapping
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
import reader
from lxml import etree

from aggregator.core.events import SourcePolled
from aggregator.engine.metrics import Metrics
from aggregator.publish import catalog
from aggregator.publish.catalog import Kind
from aggregator.publish.documents import Edition
from aggregator.publish.files import render_merged
from aggregator.publish.live import Publisher
from aggregator.web.app import create_app
from tests.asgi_server import running
from tests.atom_checks import atom_problems
from tests.conftest import Project
from tests.documents import rendered, written
from tests.session import PipelineSession
from tests.support import HeldModel, ManualClock
from tests.test_jsonfeed import atom_ids, check_twins, json_feed_problems, json_ids

ATOM = "{http://www.w3.org/2005/Atom}"


class Site:
    def __init__(self, session: PipelineSession, base: str, publisher: Publisher) -> None:
        self.session = session
        self.base = base
        self.publisher = publisher

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(self.base + path, headers=headers)


def healthy() -> tuple[bool, Mapping[str, Any]]:
    return True, {"status": "ok"}


@pytest.fixture
def site(project: Project, clock: ManualClock) -> Iterator[Site]:
    session = PipelineSession(project.settings(), clock)
    session.collect()
    settings = session.settings
    metrics = Metrics(settings, session.store.log, session.store.read_model, clock)
    # min_refresh=0: every request looks at the log, so the tests need no sleeping.
    publisher = Publisher(
        settings,
        session.store.log,
        session.store.read_model,
        clock,
        on_render=metrics.record_render,
        min_refresh=0,
    )
    app = create_app(publisher, healthy, metrics.exposition)
    try:
        with running(app) as base:
            yield Site(session, base, publisher)
    finally:
        session.close()


def test_feed_is_served_with_validators(site: Site) -> None:
    response = site.get("/feed.atom", **{"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["etag"].startswith('"') and len(response.headers["etag"]) == 34
    parsedate_to_datetime(response.headers["last-modified"])
    assert response.content == site.session.rendered()
    # The publisher wrote the same bytes to disk.
    assert written(site.session.settings, catalog.MERGED_ATOM).read_bytes() == response.content
    assert atom_problems(response.content) == []


def test_gzip_is_its_own_representation(site: Site) -> None:
    plain = site.get("/feed.atom", **{"Accept-Encoding": "identity"})
    zipped = site.get("/feed.atom", **{"Accept-Encoding": "br;q=1.0, gzip;q=0.8"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert zipped.content == plain.content  # httpx decoded it
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3
    assert zipped.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
    again = site.get(
        "/feed.atom",
        **{"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]},
    )
    assert again.status_code == 304
    refused = site.get("/feed.atom", **{"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_conditional_requests(site: Site) -> None:
    first = site.get("/feed.atom")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        again = site.get("/feed.atom", **headers)
        assert again.status_code == 304, headers
        assert again.content == b""
        assert again.headers["etag"] == etag and again.headers["last-modified"] == modified
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    both = {"If-None-Match": '"stale"', "If-Modified-Since": modified}
    assert site.get("/feed.atom", **both).status_code == 200
    earlier = format_datetime(parsedate_to_datetime(modified).replace(year=2000), usegmt=True)
    assert site.get("/feed.atom", **{"If-Modified-Since": earlier}).status_code == 200
    assert site.get("/feed.atom", **{"If-Modified-Since": "not a date"}).status_code == 200


def add_a_late_update(site: Site, project: Project) -> None:
    """Put a new update on top of the Al Jazeera page and collect it."""
    seed = next(project.seeds.glob("aljazeera*"))
    text = seed.read_text(encoding="utf-8")
    marker = "Here are the latest updates:\n\n"
    seed.write_text(
        text.replace(marker, marker + "20:30 GMT – A late update\n\nIt arrived late.\n\n"),
        encoding="utf-8",
    )
    site.session.clock.advance(minutes=10)
    site.session.collect()


def test_a_new_entry_changes_the_validators(site: Site, project: Project) -> None:
    before = site.get("/feed.atom")
    add_a_late_update(site, project)
    after = site.get("/feed.atom", **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert parsedate_to_datetime(after.headers["last-modified"]) > parsedate_to_datetime(
        before.headers["last-modified"]
    )
    assert b"A late update" in after.content
    # The unchanged source's own feed keeps its validators.
    dk_before = site.get("/sources/dailyknight.atom")
    assert site.get("/sources/dailyknight.atom").headers["etag"] == dk_before.headers["etag"]


def test_a_real_feed_client_revalidates(site: Site) -> None:
    parsed = feedparser.parse(site.base + "/feed.atom")
    assert parsed.status == 200 and not parsed.bozo
    assert len(parsed.entries) == 46
    again = feedparser.parse(site.base + "/feed.atom", etag=parsed.etag, modified=parsed.modified)
    assert again.status == 304 and again.entries == []


def test_source_feeds_and_unknown_names(site: Site) -> None:
    aj = site.get("/sources/aljazeera.atom")
    assert aj.status_code == 200 and atom_problems(aj.content) == []
    assert len(feedparser.parse(aj.content).entries) == 40
    for path in (
        "/sources/nope.atom",
        "/sources/..%2F..%2Fconfig.atom",
        "/sources/%2e%2e/feed.atom",
        "/sources/aljazeera",
        "/sources/aljazeera.atom/x",
        "/../../etc/passwd",
        "/feed.atom%00",
        "/feeds/feed.atom",
    ):
        response = site.get(path)
        assert response.status_code == 404, path
        assert b"Traceback" not in response.content and b"<feed" not in response.content


def test_head_gives_headers_only(site: Site) -> None:
    head = httpx.head(site.base + "/feed.atom")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == site.get("/feed.atom").headers["etag"]


def test_index_health_and_metrics(site: Site) -> None:
    index = site.get("/")
    assert index.status_code == 200
    assert '<link rel="alternate" type="application/atom+xml" href="/feed.atom"' in index.text
    assert 'href="/sources/dailyknight.atom"' in index.text
    assert '<link rel="alternate" type="application/feed+json" href="/feed.json"' in index.text
    assert '<a href="/sources/dailyknight.json">JSON Feed</a>' in index.text
    # Atom first: a reader taking the first alternate link still gets Atom.
    assert index.text.index("application/atom+xml") < index.text.index("application/feed+json")
    assert site.get("/healthz").json() == {"status": "ok"}
    site.get("/feed.atom")
    site.get("/feed.atom")  # same log position: no second render
    metrics = site.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = metrics.text.splitlines()
    assert 'aggregator_source_entries{source="aljazeera"} 40.0' in lines
    assert 'aggregator_source_consecutive_failures{source="dailyknight"} 0.0' in lines
    assert "aggregator_log_head_position 50.0" in lines
    renders = [
        line for line in lines if line.startswith("aggregator_feed_regeneration_seconds_count")
    ]
    assert renders == ["aggregator_feed_regeneration_seconds_count 1.0"]


def test_metrics_show_each_sources_growth_of_the_log_in_the_last_hour(site: Site) -> None:
    """From the log, so a restarted process shows it too: every event of the
    collect (the log's 50: entries, polls, story links), then none once an hour
    has passed."""

    def growth() -> list[str]:
        lines = site.get("/metrics").text.splitlines()
        return [line for line in lines if line.startswith("aggregator_source_events_last_hour")]

    assert growth() == [
        'aggregator_source_events_last_hour{source="aljazeera"} 42.0',
        'aggregator_source_events_last_hour{source="dailyknight"} 8.0',
    ]
    site.session.clock.advance(minutes=61)
    assert growth() == [
        'aggregator_source_events_last_hour{source="aljazeera"} 0.0',
        'aggregator_source_events_last_hour{source="dailyknight"} 0.0',
    ]


def test_publisher_renders_once_per_log_position(site: Site) -> None:
    first = site.publisher.current()
    assert site.publisher.current() is first
    assert first.merged.body == render_merged(site.session.settings, site.session.store.read_model)
    assert set(first.sources) == {"aljazeera", "dailyknight"}


def test_only_the_sources_an_event_concerns_are_rendered_again(site: Site) -> None:
    first = site.publisher.current()
    event = SourcePolled(source="dailyknight", poll_id="extra", fetched_at=site.session.clock())
    site.session.store.log.append([event])
    second = site.publisher.current()
    assert second.position > first.position
    settings, model = site.session.settings, site.session.store.read_model
    assert second.merged.body == render_merged(settings, model)
    for row in catalog.rows(Kind.SOURCE):
        # Not rendered again, and as a render now would give.
        assert second.get(row, "aljazeera") is first.get(row, "aljazeera")
        for name in ("aljazeera", "dailyknight"):
            document = second.get(row, name)
            assert document is not None and document.body == rendered(settings, model, row, name)


def test_a_handler_that_raises_answers_a_bare_500() -> None:
    """Whatever a handler meets, the client sees no traceback, path or message."""

    class Broken:
        def current(self) -> None:
            raise RuntimeError("cannot read /srv/secret/agg.db: SELECT * FROM events")

    app = create_app(Broken(), lambda: (True, {}), lambda: b"")  # type: ignore[arg-type]
    with running(app) as base:
        answer = httpx.get(f"{base}/feed.atom", timeout=10)
    assert answer.status_code == 500
    assert answer.text == "Internal Server Error"


# --- JSON Feed ------------------------------------------------------------------------


def test_json_feed_is_served_with_validators(site: Site) -> None:
    response = site.get("/feed.json", **{"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.headers["content-type"] == "application/feed+json"
    assert response.headers["cache-control"] == "public, max-age=60"
    etag = response.headers["etag"]
    assert etag.startswith('"') and len(etag) == 34
    assert etag != site.get("/feed.atom").headers["etag"]  # its own representation
    atom = site.get("/feed.atom", **{"Accept-Encoding": "identity"})
    assert response.headers["last-modified"] == atom.headers["last-modified"]
    # The publisher wrote the same bytes to disk, beside feed.atom.
    assert written(site.session.settings, catalog.MERGED_JSON).read_bytes() == response.content
    assert json_feed_problems(response.content) == []
    check_twins(atom.content, response.content)
    assert len(json_ids(response.content)) == 46
    assert json.loads(response.content)["feed_url"] == site.session.settings.feed.base_url + (
        "/feed.json"
    )


def test_json_feed_gzip_and_conditional_requests(site: Site) -> None:
    plain = site.get("/feed.json", **{"Accept-Encoding": "identity"})
    zipped = site.get("/feed.json", **{"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-type"] == "application/feed+json"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.content == plain.content  # httpx decoded it
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3
    assert zipped.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
    modified = plain.headers["last-modified"]
    for headers in (
        {"Accept-Encoding": "identity", "If-None-Match": plain.headers["etag"]},
        {"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        again = site.get("/feed.json", **headers)
        assert again.status_code == 304, headers
        assert again.content == b""
        assert again.headers["last-modified"] == modified
    # The Atom feed's ETag is not the JSON document's.
    stale = {"Accept-Encoding": "identity", "If-None-Match": site.get("/feed.atom").headers["etag"]}
    assert site.get("/feed.json", **stale).status_code == 200
    head = httpx.head(site.base + "/feed.json", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == plain.headers["etag"]
    posted = httpx.post(site.base + "/feed.json", content=b"{}")
    assert posted.status_code == 405 and posted.headers["allow"] in ("GET, HEAD", "HEAD, GET")


def test_source_json_feeds_and_unknown_names(site: Site) -> None:
    for name, count in (("aljazeera", 40), ("dailyknight", 6)):
        response = site.get(f"/sources/{name}.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/feed+json"
        path = written(site.session.settings, catalog.SOURCE_JSON, name)
        assert response.content == path.read_bytes()
        check_twins(site.get(f"/sources/{name}.atom").content, response.content)
        assert len(json_ids(response.content)) == count
    for path in (
        "/sources/nope.json",
        "/sources/aljazeera.atom.json",
        "/sources/..%2F..%2Fconfig.json",
        "/sources/aljazeera.json/x",
        "/feed.json%00",
        "/feeds/feed.json",
    ):
        response = site.get(path)
        assert response.status_code == 404, path
        assert b"Traceback" not in response.content and b'"items"' not in response.content


def test_a_new_entry_changes_the_json_validators(site: Site, project: Project) -> None:
    before = site.get("/feed.json")
    dk_before = site.get("/sources/dailyknight.json")
    add_a_late_update(site, project)
    after = site.get("/feed.json", **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert parsedate_to_datetime(after.headers["last-modified"]) > parsedate_to_datetime(
        before.headers["last-modified"]
    )
    assert "A late update" in {item.get("title") for item in json.loads(after.content)["items"]}
    check_twins(site.get("/feed.atom").content, after.content)
    # The unchanged source's JSON document keeps its validators and its bytes.
    dk_after = site.get("/sources/dailyknight.json", **{"If-None-Match": dk_before.headers["etag"]})
    assert dk_after.status_code == 304
    assert dk_after.headers["last-modified"] == dk_before.headers["last-modified"]


def test_a_real_feed_reader_reads_the_json_feed(site: Site, tmp_path: Path) -> None:
    """The `reader` library (a dev dependency, with its own JSON Feed 1.1 parser,
    chosen by the application/feed+json type) subscribes to /feed.json: it sees
    every entry under its Atom id, knows the version, and a second update finds
    nothing new. feedparser 6.0 reads no JSON Feed, so it cannot be this client."""
    if importlib.util.find_spec("sgmllib") is None:
        pytest.fail("reader's bundled feedparser imports `sgmllib`: the dev extra needs sgmllib3k")
    url = site.base + "/feed.json"
    subscriber = reader.make_reader(str(tmp_path / "reader.sqlite"))
    try:
        subscriber.add_feed(url)
        results = list(subscriber.update_feeds_iter(scheduled=False))
        assert [result.url for result in results] == [url]
        value = results[0].value
        assert not isinstance(value, Exception), value
        assert value is not None and value.new == 46 and value.modified == 0
        feed = subscriber.get_feed(url)
        assert feed.version == "json11" and feed.title == "Test feed"
        entries = list(subscriber.get_entries(feed=url))
        atom = site.get("/feed.atom").content
        assert sorted(entry.id for entry in entries) == sorted(atom_ids(atom))
        parsed = {entry.id: entry for entry in feedparser.parse(atom).entries}
        for entry in entries:
            assert entry.title == parsed[entry.id].title
            assert entry.link == parsed[entry.id].link
            assert entry.content[0].type == "text/html"
        again = list(subscriber.update_feeds_iter(scheduled=False))
        assert again[0].value is None  # not modified
    finally:
        subscriber.close()


def test_a_story_feed_holds_every_outlets_report_of_it(site: Site) -> None:
    merged = etree.fromstring(site.get("/feed.atom").content)
    related = {
        link.get("href") for link in merged.iter(f"{ATOM}link") if link.get("rel") == "related"
    }
    (href,) = related
    configured = "http://127.0.0.1:8080"  # the config's base_url, not the test server's
    assert href.startswith(configured + "/stories/")
    path = href.removeprefix(configured)
    story = site.get(path)
    assert story.status_code == 200
    assert story.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert atom_problems(story.content) == []
    parsed = feedparser.parse(story.content)
    assert [e.source.title for e in parsed.entries] == ["The Daily Knight", "Al Jazeera"]
    assert parsed.feed.title.startswith("Story: Azerbaijan claims captured")
    assert parsed.feed.links[0].href == href  # rel=self
    as_json = site.get(path.removesuffix(".atom") + ".json")
    assert as_json.headers["content-type"] == "application/feed+json"
    check_twins(story.content, as_json.content)
    again = site.get(path, **{"If-None-Match": story.headers["etag"]})
    assert again.status_code == 304
    for path in ("/stories/0000.atom", "/stories/ABC.atom", "/stories/..%2Ffeed.atom"):
        missing = site.get(path)
        assert missing.status_code == 404 and b"<feed" not in missing.content, path


def test_a_reader_never_waits_for_a_render_under_way(project: Project, clock: ManualClock) -> None:
    """A request that found the edition stale refreshed it itself, on the
    publisher's lock: behind a long render it waited as long (30 s seen with a
    huge source). It now waits a moment at most and gets the last edition."""
    session = PipelineSession(project.settings(), clock)
    session.collect()
    held = HeldModel(session.store.read_model, "last_recorded_at", armed=False)
    publisher = Publisher(
        session.settings, session.store.log, held, clock, write_files=False, min_refresh=0
    )  # type: ignore[arg-type]
    first = publisher.current()
    session.store.log.append([SourcePolled(source="dailyknight", poll_id="x", fetched_at=clock())])
    held.armed.set()
    render = threading.Thread(target=publisher.refresh)
    render.start()
    assert held.entered.wait(10)
    served: list[Edition] = []
    reader = threading.Thread(target=lambda: served.append(publisher.current()))
    reader.start()
    reader.join(10)
    waited = reader.is_alive()
    held.release.set()
    render.join()
    reader.join()
    session.close()
    assert not waited
    assert served == [first]
    assert publisher.current().position > first.position
