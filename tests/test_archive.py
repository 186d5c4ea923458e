"""RFC 5005 archived feeds: the merged feed's window and archive pages, over real stores.

The property that matters: a reader who starts at `/feed.atom` and follows
`prev-archive` to the end gets every entry exactly once, and a page that was
full keeps its entries for ever (its bytes change only when an entry on it is
revised or joins a story). It is checked on the seeds over real HTTP, and on
a generated log of a few thousand entries with revisions, story links and
publication times out of order, after every batch.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import etree
from sqlalchemy import text

from aggregator.config import Settings, load_settings
from aggregator.core.errors import ConfigError
from aggregator.core.events import EntryAdded, EntryEvent, EntryRevised, Event, StoryLinked
from aggregator.core.model import content_hash
from aggregator.engine.metrics import Metrics
from aggregator.publish import catalog, disk
from aggregator.publish.archive import FULL_PAGE_MAX_AGE, Paging, fair_share, touched
from aggregator.publish.catalog import Address
from aggregator.publish.documents import Documents, Update
from aggregator.publish.files import regenerate
from aggregator.publish.live import Publisher
from aggregator.store import open_store
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryReadModel
from aggregator.store.sql import SqlStore
from aggregator.web.app import create_app
from tests.asgi_server import running
from tests.atom_checks import atom_problems
from tests.conftest import Project, config_text, seed_config_text
from tests.documents import rendered
from tests.session import PipelineSession
from tests.support import ManualClock

ATOM = "{http://www.w3.org/2005/Atom}"
HISTORY = "{http://purl.org/syndication/history/1.0}"
PAGE_URL = re.compile(r"/archive/([1-9][0-9]*)\.atom$")


def with_feed_keys(config: str, **keys: object) -> str:
    """`config` with extra `[feed]` keys (after `max_entries`)."""
    extra = "".join(f"{name} = {value!r}\n".replace("'", '"') for name, value in keys.items())
    return re.sub(r"(max_entries = \d+\n)", lambda m: m.group(1) + extra, config, count=1)


def write_config(project: Project, max_entries: int, archive_size: int) -> Settings:
    """The seeds' config, paged by the window alone (`fair_span` = `max_entries`):
    these tests are about the arithmetic of the pages."""
    base = seed_config_text(project.seeds, project.database, project.output, max_entries)
    text = with_feed_keys(base, archive_size=archive_size, fair_span=max_entries)
    project.config.write_text(text, encoding="utf-8")
    return project.settings()


def feed_links(document: bytes) -> dict[str, str]:
    root = etree.fromstring(document)
    return {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}


def entry_ids(document: bytes) -> list[str]:
    root = etree.fromstring(document)
    return [entry.findtext(f"{ATOM}id") or "" for entry in root.findall(f"{ATOM}entry")]


def is_archive(document: bytes) -> bool:
    return etree.fromstring(document).find(f"{HISTORY}archive") is not None


def archive_path(settings: Settings, page: int) -> Path:
    path = catalog.file(settings, Address(catalog.ARCHIVE_ATOM, str(page)))
    assert path is not None
    return path


def page_number(url: str) -> int:
    match = PAGE_URL.search(url)
    assert match is not None, url
    return int(match.group(1))


# -- the arithmetic -----------------------------------------------------------


def test_paging_splits_arrivals_into_a_window_and_fixed_pages() -> None:
    paging = Paging(entries=46, window=10, size=7, reach=10)
    assert paging.archived == 36 and paging.pages == 6
    assert paging.window_span() == (37, 46)
    assert [paging.span(p) for p in (1, 5, 6)] == [(1, 7), (29, 35), (36, 36)]
    assert [paging.full(p) for p in range(1, 7)] == [True] * 5 + [False]
    # Exactly full: the open page exists, empty, so a full page's next-archive always resolves.
    exact = Paging(entries=24, window=10, size=7, reach=10)
    assert exact.archived == 14 and exact.pages == 3 and exact.full(2)
    assert exact.span(3) == (15, 14)
    assert Paging(entries=10, window=10, size=7, reach=10).pages == 0
    assert Paging(entries=11, window=10, size=7, reach=10).pages == 1


def test_touched_pages_after_new_entries_and_revisions() -> None:
    before = Paging(entries=46, window=10, size=7, reach=10)  # pages 1-5 full, 6 open
    assert touched(before, replace(before, entries=47), []) == {6}
    # Page 6 fills with the 42nd archived entry; page 7 opens, empty.
    assert touched(replace(before, entries=51), replace(before, entries=52), []) == {6, 7}
    # A revision in page 2 and one in the window (arrival 40).
    assert touched(before, before, [9, 40]) == {2}
    assert touched(before, before, []) == set()  # a poll that changed no entry
    # The empty open page shows the newest archived entry's `updated`.
    exact = Paging(entries=24, window=10, size=7, reach=10)
    assert touched(exact, exact, [14]) == {2, 3}
    assert touched(None, before, []) == set(range(1, 7))
    assert touched(before, replace(before, size=8), []) == set(range(1, 6))
    assert touched(None, Paging(entries=3, window=10, size=7, reach=10), [1]) == set()


def test_a_wider_span_archives_less_and_the_open_page_takes_what_the_window_leaves() -> None:
    # 46 entries, a window of 10 chosen from the latest 25: arrivals 1-21 are
    # filed by number (three full pages, the open page 4 with 21), and the open
    # page also holds the 15 of arrivals 22-46 the window leaves out.
    paging = Paging(entries=46, window=10, size=7, reach=25)
    assert paging.archived == 21 and paging.pages == 4
    assert paging.window_span() == (22, 46) and paging.span(4) == (22, 21)
    # Nothing filed by number yet, but entries left out: an open page already.
    assert Paging(entries=11, window=10, size=7, reach=25).pages == 1
    assert Paging(entries=10, window=10, size=7, reach=25).pages == 0
    # Any new entry moves the span, and any entry in it may be one left out.
    assert touched(paging, replace(paging, entries=47), []) == {4}
    assert touched(paging, paging, [9, 40]) == {2, 4}
    assert touched(paging, replace(paging, reach=30), []) == {1, 2, 3}  # 16 filed: 3 pages


def test_the_fair_share_of_the_window() -> None:
    flood = [(n, "flood") for n in range(1, 301)]
    good = [(n, "good") for n in range(301, 313)]
    # Alone, a source fills the window with its latest arrivals.
    assert fair_share(flood, 10) == set(range(291, 301))
    # Two sources: the good one's 12 are under an even share, so all are shown.
    assert fair_share([*good, *flood], 100) == set(range(301, 313)) | set(range(213, 301))
    # Three floods and a good source: 12 for it, 29 or 30 for each flood.
    three = [(n, f"flood{n % 3}") for n in range(1, 301)]
    chosen = fair_share([*three, *good], 100)
    counts = {
        name: sum(1 for n, s in [*three, *good] if s == name and n in chosen)
        for name in ("good", "flood0", "flood1", "flood2")
    }
    assert counts == {"good": 12, "flood0": 30, "flood1": 29, "flood2": 29}
    # Fewer entries than slots: every one.
    assert fair_share(good, 100) == set(range(301, 313))
    assert fair_share([], 5) == set()


def test_archive_size_is_checked(tmp_path: Path) -> None:
    base = config_text(tmp_path / "db.sqlite", tmp_path / "feeds", {"aljazeera": "feed.xml"})
    path = tmp_path / "agg.toml"
    for value, expected in (
        ("0", "expected an integer from 1 to 10000, got 0"),
        ('"100"', "expected an integer from 1 to 10000, got '100'"),
        ("true", "expected an integer from 1 to 10000, got true"),
    ):
        path.write_text(base.replace("max_entries", f"archive_size = {value}\nmax_entries"))
        with pytest.raises(ConfigError) as caught:
            load_settings(path, environ={})
        assert str(caught.value) == f"{path}: feed.archive_size: {expected}"
    path.write_text(base.replace("max_entries", "archive_szie = 10\nmax_entries"))
    with pytest.raises(ConfigError, match="did you mean 'archive_size'"):
        load_settings(path, environ={})
    path.write_text(base)
    assert load_settings(path, environ={}).feed.archive_size == 100


# -- the seeds, over HTTP -----------------------------------------------------


@dataclass
class Site:
    base: str
    publisher: Publisher
    settings: Settings
    session: PipelineSession

    def get(self, path: str, **headers: str) -> httpx.Response:
        return httpx.get(self.base + path, headers=headers)


@pytest.fixture
def site(project: Project, clock: ManualClock) -> Iterator[Site]:
    settings = write_config(project, max_entries=10, archive_size=7)
    session = PipelineSession(settings, clock)
    session.collect()
    metrics = Metrics(settings, session.store.log, session.store.read_model)
    publisher = Publisher(
        settings, session.store.log, session.store.read_model, clock, min_refresh=0
    )
    app = create_app(publisher, lambda: (True, {}), metrics.exposition)
    try:
        with running(app) as base:
            yield Site(base, publisher, settings, session)
    finally:
        session.close()


def walk(site: Site) -> tuple[list[str], list[bytes]]:
    """Follow prev-archive from /feed.atom to the end, as RFC 5005 4.2 reads a feed:
    every entry id met, and the archive documents in the order met."""
    feed = site.get("/feed.atom")
    ids = entry_ids(feed.content)
    pages: list[bytes] = []
    url = feed_links(feed.content).get("prev-archive")
    while url is not None:
        response = httpx.get(url.replace(site.settings.feed.base_url, site.base))
        assert response.status_code == 200, url
        pages.append(response.content)
        ids += entry_ids(response.content)
        url = feed_links(response.content).get("prev-archive")
    return ids, pages


def test_following_prev_archive_from_the_feed_gives_every_seed_entry_once(site: Site) -> None:
    ids, pages = walk(site)
    assert len(ids) == 46 and len(set(ids)) == 46
    stored = {e.entry_id for e in site.publisher.model.entries()}
    assert set(ids) == stored
    # 46 entries: 10 in the feed, 36 on pages of 7: five full and one open with 1.
    assert [len(entry_ids(page)) for page in pages] == [1, 7, 7, 7, 7, 7]
    feed = site.get("/feed.atom").content
    assert not is_archive(feed) and atom_problems(feed) == []
    base = site.settings.feed.base_url
    for number, page in zip(range(6, 0, -1), pages, strict=True):
        assert atom_problems(page) == [], number
        assert is_archive(page)
        links = feed_links(page)
        assert links["self"] == f"{base}/archive/{number}.atom"
        assert links["current"] == f"{base}/feed.atom"
        assert ("prev-archive" in links) == (number > 1)
        assert links.get("next-archive") == (
            f"{base}/archive/{number + 1}.atom" if number < 6 else None
        )
        # The same bytes on disk.
        assert archive_path(site.settings, number).read_bytes() == page
    # The pages hold the earliest arrivals, the feed the latest (the seeds arrive
    # a blog at a time, each blog oldest first).
    model = site.publisher.model
    assert sorted(e.arrival for e in model.entries() if e.entry_id in entry_ids(feed)) == list(
        range(37, 47)
    )


def test_archive_pages_have_validators_gzip_and_304s(site: Site) -> None:
    full = site.get("/archive/2.atom", **{"Accept-Encoding": "identity"})
    assert full.status_code == 200
    assert full.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert full.headers["cache-control"] == f"public, max-age={FULL_PAGE_MAX_AGE}"
    assert "link" not in full.headers  # no hub configured
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    plain = {"Accept-Encoding": "identity"}
    assert site.get("/archive/2.atom", **plain, **{"If-None-Match": etag}).status_code == 304
    assert site.get("/archive/2.atom", **{"If-Modified-Since": modified}).status_code == 304
    zipped = site.get("/archive/2.atom", **{"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == full.content
    assert zipped.headers["etag"] == etag[:-1] + '-gzip"'
    head = httpx.head(site.base + "/archive/2.atom")
    assert head.status_code == 200 and head.content == b""
    opened = site.get("/archive/6.atom")
    assert opened.headers["cache-control"] == "public, max-age=60"
    for path in ("/archive/0.atom", "/archive/7.atom", "/archive/02.atom", "/archive/x.atom"):
        assert site.get(path).status_code == 404, path
    assert site.get("/archive/-1.atom").status_code == 404


def test_a_revision_stays_on_its_page_and_a_late_entry_goes_to_the_feed(
    site: Site, clock: ManualClock
) -> None:
    model, log = site.publisher.model, site.session.store.log
    first = next(e for e in model.entries() if e.arrival == 1)
    page_before = site.get("/archive/1.atom")
    feed_before = site.get("/feed.atom")
    clock.advance(hours=1)
    revised = EntryRevised(
        source=first.source,
        key=first.key,
        entry_id=first.entry_id,
        version=first.version + 1,
        title=first.title + " (corrected)",
        content_html="<p>Corrected.</p>",
        published=datetime(2020, 9, 28, 1, 0, tzinfo=UTC),  # now the newest of all
        updated=clock(),
        link=first.link,
        author=first.author,
        content_hash="corrected",
    )
    late = EntryAdded(
        source="aljazeera",
        key="late",
        entry_id="tag:example.org,2020:test/aljazeera/late",
        version=1,
        title="Seen late, published early",
        content_html="<p>Early news.</p>",
        published=datetime(2020, 9, 27, 0, 1, tzinfo=UTC),  # older than every entry
        updated=datetime(2020, 9, 27, 0, 1, tzinfo=UTC),
        link=None,
        author=None,
        content_hash="late",
    )
    log.append([revised, late])
    page = site.get("/archive/1.atom")
    assert sorted(entry_ids(page.content)) == sorted(entry_ids(page_before.content))
    assert b"(corrected)" in page.content and page.headers["etag"] != page_before.headers["etag"]
    feed = site.get("/feed.atom")
    assert first.entry_id not in entry_ids(feed.content)
    # The late entry is the newest arrival: in the feed, last by publication time.
    assert entry_ids(feed.content)[-1] == late.entry_id
    # The earliest arrival of the window left it for the open page.
    left = next(e for e in model.entries() if e.arrival == 37)
    assert left.entry_id in entry_ids(feed_before.content)
    assert left.entry_id not in entry_ids(feed.content)
    assert left.entry_id in entry_ids(site.get("/archive/6.atom").content)
    ids, _ = walk(site)
    assert len(ids) == 47 and len(set(ids)) == 47
    # Page 6 took the entry that left the window; pages 2-5 are as they were.
    assert len(entry_ids(site.get("/archive/6.atom").content)) == 2


# -- a generated log ----------------------------------------------------------


@dataclass
class Generator:
    """Random batches of entry events: mostly new entries roughly in publication
    order, some published long before they are seen, revisions (some moving the
    publication time) and story links."""

    chance: random.Random
    clock: datetime = datetime(2021, 3, 1, tzinfo=UTC)
    entries: dict[tuple[str, str], EntryEvent] = field(default_factory=dict)
    linked: set[tuple[str, str]] = field(default_factory=set)
    serial: int = 0
    late: int = 0  # entries published hours before they were seen
    moved: int = 0  # revisions that changed the publication time

    def batch(self, new: int, revisions: int, links: int) -> tuple[list[Event], set[str]]:
        """Events to append, and the ids of existing entries they change."""
        events: list[Event] = []
        changed: set[str] = set()
        for _ in range(new):
            self.serial += 1
            self.clock += timedelta(minutes=self.chance.randint(0, 3))
            late = self.chance.random() < 0.15
            self.late += late
            published = (
                self.clock - timedelta(hours=self.chance.randint(1, 200)) if late else self.clock
            )
            source = self.chance.choice(["aljazeera", "dailyknight", "unconfigured"])
            key = f"k{self.serial}"
            title = f"Update {self.serial}"
            event = EntryAdded(
                source=source,
                key=key,
                entry_id=f"tag:example.org,2021:gen/{source}/{key}",
                version=1,
                title=title,
                content_html=f"<p>Body {self.serial}.</p>",
                published=published,
                updated=published,
                link=None,
                author="Desk",
                content_hash=content_hash(title, str(self.serial)),
            )
            events.append(event)
            self.entries[(source, key)] = event
        existing = [e for e in self.entries.values() if all(e is not n for n in events)]
        for previous in self.chance.sample(existing, min(revisions, len(existing))):
            version = previous.version + 1
            moved = self.chance.random() < 0.3
            self.moved += moved
            published = self.clock + timedelta(minutes=1) if moved else previous.published
            revision = EntryRevised(
                source=previous.source,
                key=previous.key,
                entry_id=previous.entry_id,
                version=version,
                title=f"{previous.title} v{version}",
                content_html=f"<p>Revised to v{version}.</p>",
                published=published,
                updated=self.clock + timedelta(minutes=1),
                link=None,
                author="Desk",
                content_hash=f"{previous.content_hash}-v{version}",
            )
            events.append(revision)
            self.entries[(previous.source, previous.key)] = revision
            changed.add(previous.entry_id)
        unlinked = [e for e in existing if (e.source, e.key) not in self.linked]
        for entry in self.chance.sample(unlinked, min(links, len(unlinked))):
            story = f"story:{self.chance.randint(1, 40):032x}"
            events.append(StoryLinked(source=entry.source, key=entry.key, story=story))
            self.linked.add((entry.source, entry.key))
            changed.add(entry.entry_id)
        return events, changed


def generated_settings(
    tmp_path: Path, max_entries: int, archive_size: int, fair_span: int | None = None
) -> Settings:
    """Paged by the window alone unless a wider `fair_span` is given."""
    urls = {"aljazeera": "aj.txt", "dailyknight": "dk.txt"}
    base = config_text(tmp_path / "gen.db", tmp_path / "feeds", urls, max_entries=max_entries)
    path = tmp_path / "gen.toml"
    keys = {"archive_size": archive_size, "fair_span": fair_span or max_entries}
    path.write_text(with_feed_keys(base, **keys), encoding="utf-8")
    return load_settings(path, environ={})


def documents(publisher: Publisher) -> tuple[bytes, dict[int, tuple[bytes, bool]]]:
    """The subscription feed, and every page met following prev-archive from it,
    as of a refresh now."""
    edition = publisher.refresh()
    pages: dict[int, tuple[bytes, bool]] = {}
    url = feed_links(edition.merged.body).get("prev-archive")
    while url is not None:
        number = page_number(url)
        found = publisher.document(Address(catalog.ARCHIVE_ATOM, str(number)))
        assert found is not None, url
        pages[number] = (found.body, found.settled)
        url = feed_links(found.body).get("prev-archive")
    assert sorted(pages) == list(range(1, edition.paging.pages + 1))
    return edition.merged.body, pages


@pytest.mark.parametrize(
    ("write_files", "fair_span"),
    [(True, None), (False, None), (True, 200)],
    ids=["files", "no-files", "files-fair-span"],
)
def test_a_generated_log_is_partitioned_and_full_pages_keep_their_entries(
    tmp_path: Path, write_files: bool, fair_span: int | None
) -> None:
    """With files, pages are rendered as the log touches them; without, when
    asked, and forgotten when touched: either way nothing stale is served. With
    a window chosen fairly from a wider span, the open page holds what the
    window leaves out, and still every entry is met exactly once."""
    settings = generated_settings(tmp_path, max_entries=60, archive_size=50, fair_span=fair_span)
    store = open_store(settings.database_url)
    # The pages are read at the edition each batch's refresh made.
    publisher = Publisher(
        settings,
        store.log,
        store.read_model,
        store.clock,
        min_refresh=3600,
        write_files=write_files,
    )
    generator = Generator(random.Random(5005))
    members: dict[int, list[str]] = {}  # a full page's entries, when first seen full
    seen: dict[int, bytes] = {}  # each full page's bytes, as last seen
    revised_pages = 0  # times a full page's bytes changed (an entry on it revised)
    try:
        batches = 0
        while len(generator.entries) < 2500:
            batches += 1
            new = generator.chance.choice([0, 1, 1, 2, 5, 40, 60, 120])
            events, changed = generator.batch(
                new,
                revisions=generator.chance.choice([0, 0, 1, 3]),
                links=generator.chance.choice([0, 1]),
            )
            if events:
                store.log.append(events)
            feed, pages = documents(publisher)
            ids = entry_ids(feed)
            for number, (body, full) in sorted(pages.items()):
                page_ids = entry_ids(body)
                ids += page_ids
                if write_files:  # the files on disk are the bytes served
                    assert archive_path(settings, number).read_bytes() == body, number
                if not full:
                    assert "next-archive" not in feed_links(body)
                    continue
                assert len(page_ids) == 50, number
                if number in members:
                    assert sorted(page_ids) == members[number], (batches, number)
                else:
                    members[number] = sorted(page_ids)
                if number in seen and seen[number] != body:
                    assert changed & set(page_ids), f"page {number} changed with no revision on it"
                    revised_pages += 1
                seen[number] = body
            assert len(ids) == len(set(ids)), f"an entry twice after batch {batches}"
            assert set(ids) == {e.entry_id for e in generator.entries.values()}, batches
            if batches % 5 == 0:  # nothing served or written is stale
                model = store.read_model
                for number, (body, _) in pages.items():
                    assert body == rendered(settings, model, catalog.ARCHIVE_ATOM, str(number))
        assert batches > 40 and len(members) >= 45 and revised_pages > 10
        assert generator.late > 300 and generator.moved > 20
        # Pages whose entries were revised changed; the rest kept their first bytes.
        feed, pages = documents(publisher)
        assert atom_problems(feed) == []
        for number, (body, _) in pages.items():
            assert atom_problems(body) == [], number
        # The SQL projection numbers entries as a fold in memory does.
        memory = MemoryReadModel()
        catch_up(store.log, memory)
        assert sorted(memory.entries(), key=lambda e: e.arrival) == sorted(
            store.read_model.entries(), key=lambda e: e.arrival
        )
        assert memory.arrivals() == store.read_model.arrivals() == len(generator.entries)
    finally:
        store.close()


def pages_rendered(update: Update, full: bool | None = None) -> set[int]:
    """The archive pages an update rendered (only the full ones, or only the open one)."""
    paging = update.edition.paging
    pages = {int(a.name) for a in update.rendered if a.row is catalog.ARCHIVE_ATOM}
    return pages if full is None else {page for page in pages if paging.full(page) == full}


def test_one_new_entry_renders_the_open_page_alone(tmp_path: Path) -> None:
    settings = generated_settings(tmp_path, max_entries=20, archive_size=10)
    store = open_store(settings.database_url)
    generator = Generator(random.Random(7))
    try:
        store.log.append(generator.batch(95, revisions=0, links=0)[0])
        catch_up(store.log, store.read_model)
        model = store.read_model

        def restart(settings: Settings) -> Update:
            """A new process (a `collect`), which carries on from the files."""
            return Documents(settings, write=True).update(model, store.clock)

        documents = Documents(settings, write=True)
        update = documents.update(model, store.clock)
        paging = update.edition.paging
        assert paging.pages == 8 and pages_rendered(update) == set(range(1, 9))
        inodes = {n: archive_path(settings, n).stat().st_ino for n in range(1, 9)}
        for _ in range(12):  # across a page boundary
            store.log.append(generator.batch(1, revisions=0, links=0)[0])
            catch_up(store.log, model)
            before = paging
            update = documents.update(model, store.clock)
            paging = update.edition.paging
            expected = {paging.pages} | ({before.pages} if paging.pages != before.pages else set())
            assert pages_rendered(update) == expected
        # A restart carries on from the state file, written when page 8 filled (not
        # for each entry on the open page): nothing to render but the open page.
        folder = catalog.directory(settings, catalog.ARCHIVE_ATOM)
        assert folder is not None
        recorded = disk.read_baseline(folder)
        assert recorded is not None and recorded.paging.archived == 80
        assert recorded.position < update.edition.position
        assert pages_rendered(restart(settings)) == {paging.pages}
        # Untouched pages were never rewritten.
        for number in range(1, 8):
            assert archive_path(settings, number).stat().st_ino == inodes[number], number
        # A missing file is rendered again (the restart above recorded its state, so
        # no other full page is); every page is after a change of title. A new
        # process renders the open page whatever happened, to have it at hand.
        archive_path(settings, 3).unlink()
        update = restart(settings)
        assert pages_rendered(update, full=True) == {3}
        assert pages_rendered(update, full=False) == {paging.pages}
        # A new source without entries changes no page; a renamed outlet changes them all.
        newcomer = replace(settings.sources[0], name="newcomer", title="Newcomer")
        more = replace(settings, sources=(*settings.sources, newcomer))
        assert pages_rendered(restart(more), full=True) == set()
        every = set(range(1, paging.pages + 1))
        renamed = replace(settings.sources[0], title="Renamed outlet")
        outlets = replace(settings, sources=(renamed, *settings.sources[1:]))
        assert pages_rendered(restart(outlets)) == every
        retitled = replace(settings, feed=replace(settings.feed, title="Another title"))
        assert pages_rendered(restart(retitled)) == every
        # A larger window needs fewer pages: the ones past the end are removed.
        wider = replace(settings, feed=replace(settings.feed, max_entries=50))
        regenerate(wider, store.log, model)
        shown = sorted(p.name for p in (settings.feed.output_dir / "archive").iterdir())
        assert shown == [".state.json", "1.atom", "2.atom", "3.atom", "4.atom", "5.atom", "6.atom"]
    finally:
        store.close()


def test_the_publisher_rewrites_only_the_open_page_after_one_entry(tmp_path: Path) -> None:
    settings = generated_settings(tmp_path, max_entries=20, archive_size=10)
    store = open_store(settings.database_url)
    generator = Generator(random.Random(11))
    publisher = Publisher(settings, store.log, store.read_model, store.clock, min_refresh=0)
    try:
        store.log.append(generator.batch(95, revisions=0, links=0)[0])
        edition = publisher.refresh()
        assert edition.paging.pages == 8
        inodes = {n: archive_path(settings, n).stat().st_ino for n in range(1, 9)}
        store.log.append(generator.batch(1, revisions=0, links=0)[0])
        edition = publisher.refresh()
        changed = {n for n in range(1, 9) if archive_path(settings, n).stat().st_ino != inodes[n]}
        assert changed == {8}
        opened = edition.get(catalog.ARCHIVE_ATOM, "8")
        assert opened is not None and not opened.settled
        assert archive_path(settings, 8).read_bytes() == opened.body
    finally:
        store.close()


# -- the migration ------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


def test_the_migration_numbers_stored_entries_as_a_fold_would(url: str) -> None:
    store = open_store(url)
    generator = Generator(random.Random(3))
    for _ in range(6):
        store.log.append(generator.batch(30, revisions=4, links=3)[0])
    catch_up(store.log, store.read_model)
    # Events past the checkpoint are not the migration's to number.
    store.log.append(generator.batch(5, revisions=2, links=1)[0])
    expected = MemoryReadModel()
    catch_up(store.log, expected, upto=store.read_model.checkpoint())
    with store.write_session() as session:
        for column in ("arrival", "changed"):
            session.execute(text(f"DROP INDEX ix_entries_{column}"))
            session.execute(text(f"ALTER TABLE entries DROP COLUMN {column}"))
        # 0007 and 0008 come after it again.
        session.execute(text("ALTER TABLE source_status DROP COLUMN last_error_kind"))
        session.execute(text("ALTER TABLE entries DROP COLUMN recorded_at"))
        session.execute(text("UPDATE alembic_version SET version_num = '0005'"))
        session.commit()
    store.close()
    reopened: SqlStore = open_store(url)
    try:
        numbered = sorted(reopened.read_model.entries(), key=lambda e: (e.source, e.key))
        assert numbered == sorted(expected.entries(), key=lambda e: (e.source, e.key))
        # And folding carries on from there as it would have.
        catch_up(reopened.log, reopened.read_model)
        catch_up(reopened.log, expected)
        assert sorted(reopened.read_model.entries(), key=lambda e: e.arrival) == sorted(
            expected.entries(), key=lambda e: e.arrival
        )
    finally:
        reopened.close()
