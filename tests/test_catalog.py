"""The catalog: every published document, written and served as the same bytes.

The files `collect` writes and the documents `aggregator run` (or `serve`)
answers come from one table and one render path; this checks, for every
document of the table over the seeds (two sources, archived pages, a story
linking two outlets' entries, the timeline), that the file and the HTTP body
are the same bytes, that each is reachable at its URL, and that every link a
document makes to another of ours lands on one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from lxml import html as lxml_html

from aggregator.core.events import SourceFailed, SourceNotModified
from aggregator.publish import catalog
from aggregator.publish.catalog import CATALOG, Address, Kind, Row
from aggregator.publish.documents import Documents
from aggregator.publish.live import Publisher
from aggregator.store.catchup import catch_up
from aggregator.web.app import create_app
from tests.asgi_server import running
from tests.conftest import Project
from tests.documents import every_document, rendered
from tests.session import PipelineSession
from tests.support import ManualClock
from tests.test_archive import write_config
from tests.test_websub import new_entry

ATOM = "{http://www.w3.org/2005/Atom}"


def links(document: bytes, row: Row) -> set[str]:
    """Every URL a document links to (Atom links, JSON Feed URLs, HTML hrefs)."""
    if row.format is catalog.ATOM:
        root = etree.fromstring(document)
        return {link.get("href") or "" for link in root.iter(f"{ATOM}link")}
    if row.format is catalog.JSON_FEED:
        feed = json.loads(document)
        found = {feed["feed_url"], feed["home_page_url"]}
        return found | {item["_story"]["feed_url"] for item in feed["items"] if "_story" in item}
    page = lxml_html.document_fromstring(document.decode("utf-8"))
    return {element.get("href") or "" for element in page.iter("a", "link")}


@pytest.fixture
def served(project: Project, clock: ManualClock) -> Iterator[tuple[PipelineSession, str]]:
    """The seeds collected as `collect` does (writing the files), then served by
    a process that writes none, as `aggregator serve` beside it would."""
    settings = write_config(project, max_entries=10, archive_size=7)
    session = PipelineSession(settings, clock)
    try:
        session.collect()
        model = session.store.read_model
        publisher = Publisher(
            settings, session.store.log, model, clock, min_refresh=0, write_files=False
        )
        with running(create_app(publisher, lambda: (True, {}), lambda: b"")) as base:
            yield session, base
    finally:
        session.close()


def test_every_document_is_served_as_the_bytes_written(
    served: tuple[PipelineSession, str],
) -> None:
    session, base = served
    settings, model = session.settings, session.store.read_model
    documents = every_document(settings, model)
    kinds = {address.row.kind for address in documents}
    assert kinds == set(Kind)  # the seeds have a document of every kind
    assert len([a for a in documents if a.row is catalog.ARCHIVE_ATOM]) == 6
    assert len([a for a in documents if a.row is catalog.STORY_ATOM]) == 1
    files: set[Path] = set()
    bodies: dict[Address, bytes] = {}
    for address in documents:
        response = httpx.get(base + catalog.path(address), headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, address
        assert response.headers["content-type"] == address.row.format.content_type
        assert response.headers["content-encoding"] == "gzip"
        plain = httpx.get(base + catalog.path(address), headers={"Accept-Encoding": "identity"})
        assert plain.content == response.content
        assert response.content == rendered(settings, model, address.row, address.name)
        bodies[address] = response.content
        path = catalog.file(settings, address)
        if path is not None:
            assert path.read_bytes() == response.content, address
            files.add(path)
    # Nothing else was written, but the state files of the feeds and the archive.
    output = settings.feed.output_dir
    on_disk = {p for p in output.rglob("*") if p.is_file()}
    assert on_disk - files == {output / ".state.json", output / "archive" / ".state.json"}
    # Every link to one of our documents lands on one of them, and a feed's self
    # link is its own URL.
    ours = {catalog.url(settings.feed, address): address for address in documents}
    paths = {catalog.path(address): address for address in documents}
    for address, body in bodies.items():
        found = links(body, address.row)
        if address.row.format is not catalog.HTML:
            assert catalog.url(settings.feed, address) in found, address
        for link in found:
            target = link.split("#")[0]
            if target.startswith(settings.feed.base_url):
                assert target in ours, (address, link)
            elif target.startswith("/") and target not in ("/healthz", "/metrics"):
                assert target in paths, (address, link)


def test_names_a_request_may_not_bring(served: tuple[PipelineSession, str]) -> None:
    """A name the catalog does not accept is a 404, without any lookup."""
    _, base = served
    for path in (
        "/archive/0.atom",
        "/archive/07.atom",
        "/archive/999999999.atom",
        "/stories/XYZ.atom",
        "/stories/abc.json",
        "/sources/..%2Ffeed.atom",
        "/sources/Upper.json",
    ):
        response = httpx.get(base + path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/plain")


def test_the_table_spells_each_url_and_file_once() -> None:
    """No two rows share a URL or a file, and a row's file, when it has one,
    mirrors its URL (a static server pointed at `output_dir` serves the same
    paths), so one spelling decides both."""
    urls = [row.url for row in CATALOG]
    assert len(set(urls)) == len(urls)
    for row in CATALOG:
        assert row.url.startswith("/")
        if row.file is not None:
            assert row.url == "/" + row.file
        assert ("{name}" in row.url) == (row.kind not in (Kind.MERGED, Kind.TIMELINE))
    assert [row.format for row in catalog.rows(Kind.MERGED)] == [catalog.ATOM, catalog.JSON_FEED]
    topics = {(row.kind, row.format) for row in CATALOG if row.topic}
    assert topics == {
        (kind, form)
        for kind in (Kind.MERGED, Kind.SOURCE)
        for form in (catalog.ATOM, catalog.JSON_FEED)
    }


def test_an_update_renders_only_what_the_events_touched(
    project: Project, clock: ManualClock
) -> None:
    settings = write_config(project, max_entries=10, archive_size=7)
    session = PipelineSession(settings, clock)
    try:
        session.collect()
        model = session.store.read_model
        documents = Documents(settings, write=True)
        first = documents.update(model, clock)
        # A new process: every open document, no full page (the state file says
        # they are current), and nothing changed on disk.
        opened = {Address(row) for row in catalog.rows(Kind.MERGED)} | {
            Address(row, source.name)
            for row in catalog.rows(Kind.SOURCE)
            for source in settings.sources
        }
        assert set(first.rendered) == opened | {Address(catalog.ARCHIVE_ATOM, "6")}
        assert first.changed == ()
        session.store.log.append([new_entry("dailyknight", 1)])
        catch_up(session.store.log, model)
        second = documents.update(model, clock)
        touched = {Address(row) for row in catalog.rows(Kind.MERGED)} | {
            Address(row, "dailyknight") for row in catalog.rows(Kind.SOURCE)
        }
        # The entry that left the window went to the open page, page 6.
        assert set(second.rendered) == touched | {Address(catalog.ARCHIVE_ATOM, "6")}
        assert set(second.changed) == set(second.rendered)
        # Files are written in the reverse of the table's order: the merged Atom feed last.
        assert second.rendered[-1] == Address(catalog.MERGED_ATOM)
        assert second.rendered[0].row is catalog.ARCHIVE_ATOM
        # A round of polls that found nothing moves the log, and touches nothing.
        polls = [
            SourceNotModified(source="dailyknight", poll_id="p1", fetched_at=clock()),
            SourceFailed(source="aljazeera", poll_id="p2", fetched_at=clock(), kind="timeout"),
        ]
        session.store.log.append(polls)
        catch_up(session.store.log, model)
        third = documents.update(model, clock)
        assert third.edition.position == model.checkpoint() > second.edition.position
        assert third.rendered == ()
        assert third.edition.documents == second.edition.documents
        # Nothing moved: nothing to render.
        assert documents.update(model, clock).rendered == ()
    finally:
        session.close()


def test_a_poll_that_finds_nothing_changes_no_document(
    project: Project, clock: ManualClock
) -> None:
    """What a 304 or a failure changes (the last poll, the outcome, the error)
    is shown in no document, not even in a feed with no entry yet, whose
    `updated` was once the last poll: so such polls need render nothing."""
    settings = write_config(project, max_entries=2, archive_size=2)
    session = PipelineSession(settings, clock)
    try:
        log, model = session.store.log, session.store.read_model
        log.append([new_entry("aljazeera", n) for n in range(1, 6)])
        catch_up(log, model)  # dailyknight: configured, never had an entry
        addresses = every_document(settings, model)
        assert Address(catalog.SOURCE_ATOM, "dailyknight") in addresses
        before = {a: rendered(settings, model, a.row, a.name) for a in addresses}
        clock.advance(minutes=5)
        now = clock()
        log.append(
            [
                SourceNotModified(source="aljazeera", poll_id="p1", fetched_at=now),
                SourceFailed(source="dailyknight", poll_id="p2", fetched_at=now, kind="timeout"),
                SourceNotModified(source="dailyknight", poll_id="p3", fetched_at=now),
            ]
        )
        catch_up(log, model)
        assert every_document(settings, model) == addresses
        for address in addresses:
            assert rendered(settings, model, address.row, address.name) == before[address], address
    finally:
        session.close()
