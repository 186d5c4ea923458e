"""The timeline page at `/`, read as HTML: structure, escaping, grouping, caching.

The page is parsed with lxml.html, as a browser would build it; the browser
itself (scripts, time zones, layout) is `tests/test_timeline_browser.py`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser
import httpx
import pytest
from lxml import html as lxml_html

from aggregator.config import Settings
from aggregator.core.errors import StoreUnavailable
from aggregator.core.states import EntryState
from aggregator.ingest.extract.sanitize import sanitize_html
from aggregator.publish import catalog, timeline
from aggregator.publish.catalog import Address
from aggregator.publish.live import Publisher
from aggregator.store.base import ReadModel
from aggregator.web.app import create_app
from tests.asgi_server import running
from tests.conftest import Project
from tests.session import PipelineSession
from tests.support import ManualClock
from tests.test_web import healthy

SEED_UPDATES = 46
READABLE_UTC = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC")
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
LANDMARKS = ("header", "nav", "main", "footer")


class TimelineSite:
    """The real app over the seeds' log, served on 127.0.0.1 by uvicorn."""

    def __init__(self, session: PipelineSession, base: str, publisher: Publisher) -> None:
        self.session = session
        self.base = base
        self.publisher = publisher

    def get(self, path: str = "/", **headers: str) -> httpx.Response:
        return httpx.get(self.base + path, headers=headers)


@contextmanager
def served_seeds(project: Project, clock: ManualClock) -> Iterator[TimelineSite]:
    """The seeds collected into a fresh log and served as `tests/test_web.py` does.
    Shared with the browser test."""
    session = PipelineSession(project.settings(), clock)
    try:
        session.collect()
        publisher = Publisher(
            session.settings, session.store.log, session.store.read_model, clock, min_refresh=0
        )
        app = create_app(publisher, healthy, lambda: b"")
        with running(app) as base:
            yield TimelineSite(session, base, publisher)
    finally:
        session.close()


@pytest.fixture
def site(project: Project, clock: ManualClock) -> Iterator[TimelineSite]:
    with served_seeds(project, clock) as served:
        yield served


@pytest.fixture
def seeded(project: Project, clock: ManualClock) -> Iterator[PipelineSession]:
    session = PipelineSession(project.settings(), clock)
    session.collect()
    yield session
    session.close()


def render(settings: Settings, entries: Iterable[EntryState]) -> bytes:
    """The page for `entries`, linking the documents where the catalog serves them."""
    return timeline.render_timeline(settings, entries, catalog.page_links(settings))


def window(session: PipelineSession) -> list[EntryState]:
    return session.store.read_model.entries(limit=session.settings.feed.max_entries)


def parse(body: bytes) -> Any:
    return lxml_html.document_fromstring(body.decode("utf-8"))


def text(element: Any) -> str:
    return " ".join(element.text_content().split())


def articles(page: Any) -> list[Any]:
    return list(page.iter("article"))


def heading(article: Any) -> Any:
    first = next(iter(article.iterchildren()))
    assert first.tag in ("h3", "h4"), f"an update's first child is {first.tag}, not its heading"
    return first


def story_reports(session: PipelineSession) -> tuple[str, list[EntryState]]:
    """The seeds' one cross-outlet story (Murovdag), and its reports, newest first."""
    members = [e for e in window(session) if e.story is not None]
    stories = {e.story for e in members}
    assert len(stories) == 1, stories
    return members[0].story or "", members


# --- structure and accessibility ------------------------------------------------


def test_the_page_holds_the_merged_window_newest_first(seeded: PipelineSession) -> None:
    entries = window(seeded)
    page = parse(render(seeded.settings, entries))
    found = articles(page)
    assert len(found) == len(entries) == SEED_UPDATES
    stamps = [a.find(".//time").get("datetime") for a in found]
    published = {timeline.rfc3339(e.published) for e in entries}
    assert set(stamps) == published
    # Newest first, apart from the story's older report shown beside its newest.
    _, members = story_reports(seeded)
    outside = [a for a in found if a.getparent().tag == "main"]
    outside_times = [a.find(".//time").get("datetime") for a in outside]
    assert outside_times == sorted(outside_times, reverse=True)
    assert len(outside) == SEED_UPDATES - len(members)
    assert "The latest 46 updates from 2 outlets, newest first." in text(page.find(".//header"))


def test_document_outline_and_landmarks(seeded: PipelineSession) -> None:
    page = parse(render(seeded.settings, window(seeded)))
    assert page.get("lang") == "en"
    assert page.find(".//meta[@name='viewport']") is not None
    assert page.findtext(".//title") == seeded.settings.feed.title
    assert [h.text_content() for h in page.iter("h1")] == [seeded.settings.feed.title]
    levels = [int(h.tag[1]) for h in page.iter("h1", "h2", "h3", "h4", "h5", "h6")]
    assert levels[0] == 1
    for before, after in itertools.pairwise(levels):
        assert after <= before + 1, f"heading level jumps from h{before} to h{after}"
    for landmark in LANDMARKS:
        assert len(page.findall(f".//{landmark}")) == 1, landmark
    body = page.find("body")
    skip = body[0]
    assert skip.tag == "a" and skip.get("href") == "#main"
    assert text(skip) == "Skip to the updates"
    assert page.get_element_by_id("main").tag == "main"
    assert page.find(".//nav").get("aria-labelledby") == "feeds"
    assert page.get_element_by_id("feeds").tag == "h2"
    assert not page.findall(".//table")
    ids = [element.get("id") for element in page.iter() if element.get("id")]
    assert len(ids) == len(set(ids)), "duplicate ids"
    labelled = [e.get("aria-labelledby") for e in page.iter() if e.get("aria-labelledby")]
    fragments = [e.get("href")[1:] for e in page.iter("a") if e.get("href", "").startswith("#")]
    assert labelled and fragments == ["main"]
    assert set(labelled + fragments) <= set(ids)
    for article in articles(page):
        assert text(heading(article))


def test_every_update_shows_outlet_time_title_content_and_original(
    seeded: PipelineSession,
) -> None:
    entries = {timeline.rfc3339(e.published) + e.source: e for e in window(seeded)}
    titles = {s.name: s.title for s in seeded.settings.sources}
    pages = {s.title: s.link for s in seeded.settings.sources}
    page = parse(render(seeded.settings, entries.values()))
    for article in articles(page):
        meta = article.find_class("meta")[0]
        outlet = meta.find("a")
        entry = entries[meta.find("time").get("datetime") + _source_named(titles, outlet.text)]
        assert outlet.get("href") == pages[outlet.text]
        assert text(heading(article)) == entry.title
        time = meta.find("time")
        assert RFC3339_UTC.fullmatch(time.get("datetime"))
        assert READABLE_UTC.fullmatch(time.text)
        content = article.find_class("content")[0]
        assert len(content) > 0, "the content is markup, not escaped text"
        original = article.find_class("original")[0].find("a")
        assert original.get("href") == entry.link
        assert text(original) == f"Read this update on {outlet.text}: {entry.title}"


def _source_named(titles: dict[str, str], title: str) -> str:
    return next(name for name, shown in titles.items() if shown == title)


def test_content_html_is_inserted_as_stored_not_escaped_again(seeded: PipelineSession) -> None:
    entries = window(seeded)
    body = render(seeded.settings, entries).decode("utf-8")
    for entry in entries:
        assert f'<div class="content">{entry.content_html}</div>' in body
    assert "&amp;lt;p&amp;gt;" not in body and "&lt;p&gt;" not in body


def test_times_are_readable_utc_and_the_page_says_so(seeded: PipelineSession) -> None:
    page = parse(render(seeded.settings, window(seeded)))
    murovdag = next(
        a for a in articles(page) if text(heading(a)).startswith("Azerbaijan claims captured")
    )
    time = murovdag.find(".//time")
    assert time.get("datetime") == "2020-09-27T15:43:00Z"
    assert time.text == "27 Sep 2020, 15:43 UTC"
    note = page.get_element_by_id("time-note")
    assert text(note) == "All times are in UTC (Coordinated Universal Time)."
    assert timeline.readable_utc(datetime(2021, 1, 2, 3, 4, tzinfo=UTC)) == "2 Jan 2021, 03:04 UTC"


def test_a_story_is_shown_once_with_every_outlets_report(seeded: PipelineSession) -> None:
    story, members = story_reports(seeded)
    assert {e.source for e in members} == {"aljazeera", "dailyknight"}
    digest = catalog.story_name(story)
    page = parse(render(seeded.settings, window(seeded)))
    (section,) = page.find_class("story")
    assert section.tag == "section" and section.get("id") == digest
    title = section.find("h3")
    assert section.get("aria-labelledby") == title.get("id")
    assert text(title) == (
        "Reported by 2 outlets Azerbaijan claims captured ‘strategic’ mountain from Karabakh forces"
    )
    reports = section.findall("article")
    assert [r.find(".//time").get("datetime") for r in reports] == [
        "2020-09-27T18:52:00Z",
        "2020-09-27T15:43:00Z",
    ]
    assert [r.find_class("meta")[0].find("a").text for r in reports] == [
        "The Daily Knight",
        "Al Jazeera",
    ]
    assert all(heading(r).tag == "h4" for r in reports)
    assert all("Murovdag" in text(r.find_class("content")[0]) for r in reports)
    links = {a.get("href"): text(a) for a in section.find_class("story-links")[0].iter("a")}
    assert links[f"/stories/{digest}.atom"] == (
        "Story feed: Azerbaijan claims captured ‘strategic’ mountain from Karabakh forces (Atom)"
    )
    assert links[f"/stories/{digest}.json"] == "JSON Feed"
    # At its newest report's place: after the 18:55 update, before the 18:50 one.
    before, after = section.getprevious(), section.getnext()
    assert before.find(".//time").get("datetime") == "2020-09-27T18:55:00Z"
    assert after.find(".//time").get("datetime") == "2020-09-27T18:50:00Z"


def test_a_story_with_one_outlet_in_the_window_is_not_grouped(
    seeded: PipelineSession,
) -> None:
    story, members = story_reports(seeded)
    entries = [e for e in window(seeded) if e != members[0]]  # the Daily Knight's fell out
    page = parse(render(seeded.settings, entries))
    assert not page.find_class("story")
    (alone,) = (a for a in articles(page) if a.get("id") == catalog.story_name(story))
    assert heading(alone).tag == "h3"
    hrefs = [a.get("href") for a in alone.iter("a")]
    assert f"/stories/{catalog.story_name(story)}.atom" in hrefs
    assert "Also reported by other outlets" in text(alone)


def test_feed_links_and_autodiscovery_atom_first(seeded: PipelineSession) -> None:
    page = parse(render(seeded.settings, window(seeded)))
    alternates = [
        (link.get("type"), link.get("href"))
        for link in page.find("head").iter("link")
        if link.get("rel") == "alternate"
    ]
    names = [s.name for s in seeded.settings.sources]
    paths = ["/feed"] + [f"/sources/{name}" for name in names]
    assert alternates == [("application/atom+xml", f"{p}.atom") for p in paths] + [
        ("application/feed+json", f"{p}.json") for p in paths
    ]
    nav = {a.get("href"): text(a) for a in page.find(".//nav").iter("a")}
    assert nav["/feed.atom"] == "All outlets: Atom feed"
    assert nav["/feed.json"] == "JSON Feed"
    assert nav["/sources/dailyknight.atom"] == "The Daily Knight: Atom feed"
    assert nav["/sources/aljazeera.json"] == "JSON Feed"
    for item in page.find(".//nav").iter("li"):
        assert len(list(item.iter("a"))) == 2  # the JSON link's purpose is its list item


def test_link_texts_say_where_they_go(seeded: PipelineSession) -> None:
    page = parse(render(seeded.settings, window(seeded)))
    vague = {"here", "click here", "more", "read more", "link", "this"}
    for anchor in page.iter("a"):
        if anchor.getparent().get("class") == "content":
            continue  # the outlets' own markup
        label = text(anchor)
        assert label and label.lower() not in vague, label


def test_the_page_works_without_javascript_and_has_one_known_script(
    seeded: PipelineSession,
) -> None:
    body = render(seeded.settings, window(seeded))
    page = parse(body)
    scripts = list(page.iter("script"))
    assert [s.text for s in scripts] == [timeline.SCRIPT]
    assert scripts[0].get("src") is None
    assert [s.text for s in page.iter("style")] == [timeline.STYLE]
    # Nothing external: no stylesheet, script, font or image of the page's own.
    assert not [link for link in page.iter("link") if link.get("rel") != "alternate"]
    assert b"<noscript" not in body  # nothing is hidden behind the script
    for name, source in (("script", timeline.SCRIPT), ("style", timeline.STYLE)):
        digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
        assert f"{name}-src 'sha256-{digest}'" in timeline.CONTENT_SECURITY_POLICY


def test_the_page_is_the_same_bytes_for_the_same_log(seeded: PipelineSession) -> None:
    first = render(seeded.settings, window(seeded))
    assert render(seeded.settings, window(seeded)) == first


def test_an_empty_log_gives_a_complete_page(seeded: PipelineSession) -> None:
    page = parse(render(seeded.settings, []))
    assert not articles(page)
    assert "No updates yet." in text(page.find(".//header"))
    assert "Nothing has been collected yet" in text(page.find(".//main"))
    assert len(list(page.iter("h1"))) == 1


# --- hostile content ------------------------------------------------------------


def hostile(settings: Settings, entry: EntryState) -> tuple[Settings, EntryState]:
    """The settings and one entry with markup everywhere a text may hold it."""
    source = replace(
        settings.source(entry.source),
        title='Evil <b>outlet</b> "quoted"',
        link="javascript:alert('outlet')",
    )
    settings = replace(
        settings,
        feed=replace(settings.feed, title="<i>Feed</i> & co", subtitle="<script>x()</script>"),
        sources=tuple(source if s.name == source.name else s for s in settings.sources),
    )
    return settings, replace(
        entry,
        title="<script>alert(1)</script>",
        author='"><img src=x onerror=alert(2)>',
        link="javascript:alert(3)",
        # As the store holds it: through the sanitiser.
        content_html=sanitize_html(
            '<p onclick="alert(4)">Hi<script>alert(5)</script>'
            '<a href="javascript:alert(6)">x</a><img src="x" onerror="alert(7)"></p>'
        ),
    )


def test_titles_and_names_are_text(seeded: PipelineSession) -> None:
    entries = window(seeded)
    settings, evil = hostile(seeded.settings, entries[0])
    body = render(settings, [evil, *entries[1:]])
    page = parse(body)
    article = articles(page)[0]
    assert text(heading(article)) == "<script>alert(1)</script>"
    assert "<h3>&lt;script&gt;alert(1)&lt;/script&gt;</h3>" in body.decode()
    assert page.findtext(".//title") == "<i>Feed</i> & co"
    assert text(page.find(".//h1")) == "<i>Feed</i> & co"
    assert "<script>x()</script>" in text(page.find(".//header"))
    meta = article.find_class("meta")[0]
    assert 'Evil <b>outlet</b> "quoted"' in text(meta)
    assert meta.find("a") is None  # a javascript: page is no link
    assert 'by "><img src=x onerror=alert(2)>' in text(meta)
    assert not article.find_class("original")  # nor is a javascript: original
    # The only script is the page's own; no handler, no javascript: URL anywhere.
    assert [s.text for s in page.iter("script")] == [timeline.SCRIPT]
    for element in page.iter():
        for name, value in element.attrib.items():
            assert not name.startswith("on"), (element.tag, name)
            assert not value.strip().lower().startswith("javascript:"), (element.tag, value)
    assert [i.get("src") for i in page.iter("img")] == ["x"]
    titles = [link.get("title") for link in page.find("head").iter("link")]
    assert titles[0] == "<i>Feed</i> & co"
    assert 'Evil <b>outlet</b> "quoted"' in titles


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.org/live#u1", True),
        ("HTTP://example.org/", True),
        ("javascript:alert(1)", False),
        (" JavaScript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("file:///etc/passwd", False),
        ("//example.org/x", False),
        ("/relative", False),
        ("http://[::1", False),
        ("", False),
        (None, False),
    ],
)
def test_only_web_links_are_links(url: str | None, kept: bool) -> None:
    assert (timeline.web_url(url) is not None) == kept


# --- colours ----------------------------------------------------------------------


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", [0, 1], ids=["light", "dark"])
def test_colours_meet_wcag_aa(scheme: int) -> None:
    colour = {name: pair[scheme] for name, pair in timeline.PALETTE.items()}
    for background in ("bg", "story"):
        for foreground in ("fg", "muted", "link"):
            ratio = contrast(colour[foreground], colour[background])
            assert ratio >= 4.5, (foreground, background, round(ratio, 2))
        assert contrast(colour["focus"], colour[background]) >= 3


# --- served -----------------------------------------------------------------------


def test_served_as_html_with_validators_and_a_csp(site: TimelineSite) -> None:
    page = site.get("/", **{"Accept-Encoding": "identity"})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == timeline.CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "public, max-age=60"
    etag = page.headers["etag"]
    assert page.content == render(site.session.settings, window(site.session))
    again = site.get("/", **{"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["content-security-policy"] == timeline.CONTENT_SECURITY_POLICY
    modified = site.get("/", **{"If-Modified-Since": page.headers["last-modified"]})
    assert modified.status_code == 304
    zipped = site.get("/", **{"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == page.content
    head = httpx.head(site.base + "/", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag


def test_rendered_once_per_edition(site: TimelineSite, monkeypatch: pytest.MonkeyPatch) -> None:
    site.get("/")
    renders: list[int] = []
    original = timeline.render_timeline

    def counting(settings: Settings, entries: Any, links: timeline.PageLinks) -> bytes:
        renders.append(1)
        return original(settings, entries, links)

    monkeypatch.setattr(timeline, "render_timeline", counting)
    for _ in range(3):
        assert site.get("/").status_code == 200
    assert renders == []


def test_a_new_entry_changes_the_page(site: TimelineSite, project: Project) -> None:
    before = site.get("/")
    seed = next(project.seeds.glob("aljazeera*"))
    marker = "Here are the latest updates:\n\n"
    seed.write_text(
        seed.read_text(encoding="utf-8").replace(
            marker, marker + "20:30 GMT – A late <b>update</b>\n\nIt arrived late.\n\n"
        ),
        encoding="utf-8",
    )
    site.session.clock.advance(minutes=10)
    site.session.collect()
    after = site.get("/", **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert parsedate_to_datetime(after.headers["last-modified"]) > parsedate_to_datetime(
        before.headers["last-modified"]
    )
    page = parse(after.content)
    assert len(articles(page)) == SEED_UPDATES + 1
    (late,) = (a for a in articles(page) if text(heading(a)) == "A late <b>update</b>")
    assert late.find(".//time").text == "27 Sep 2020, 20:30 UTC"


def test_a_reload_changes_the_page_at_the_same_position(site: TimelineSite) -> None:
    before = site.get("/")
    settings = replace(
        site.publisher.settings,
        feed=replace(site.publisher.settings.feed, title="Renamed feed"),
    )
    site.publisher.reconfigure(settings)
    after = site.get("/", **{"If-Modified-Since": before.headers["last-modified"]})
    assert after.status_code == 200
    assert "<h1>Renamed feed</h1>" in after.text
    assert after.headers["etag"] != before.headers["etag"]


class _Failing:
    """A read model whose entry reads fail on demand, as a database gone away."""

    def __init__(self, model: ReadModel) -> None:
        self._model = model
        self.down = False

    def _read(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise StoreUnavailable("database is down")
        return getattr(self._model, name)(*args, **kwargs)

    def entries(self, *args: Any, **kwargs: Any) -> list[EntryState]:
        return self._read("entries", *args, **kwargs)

    def arrivals(self) -> int:
        return self._read("arrivals")

    def arrived(self, *args: Any) -> list[EntryState]:
        return self._read("arrived", *args)

    def arrival_sources(self, *args: Any) -> list[tuple[int, str]]:
        return self._read("arrival_sources", *args)

    def numbered(self, *args: Any) -> list[EntryState]:
        return self._read("numbered", *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def test_the_last_page_stands_in_while_the_store_is_down(
    seeded: PipelineSession, clock: ManualClock
) -> None:
    model = _Failing(seeded.store.read_model)
    publisher = Publisher(
        seeded.settings, seeded.store.log, model, clock, write_files=False, min_refresh=0
    )
    page = Address(catalog.TIMELINE_HTML)
    model.down = True
    with pytest.raises(StoreUnavailable):  # nothing rendered yet: nothing to stand in
        publisher.document(page)
    model.down = False
    first = publisher.document(page)
    assert first is not None and publisher.document(page) is first
    model.down = True
    elsewhere = replace(seeded.settings, feed=replace(seeded.settings.feed, title="Elsewhere"))
    with pytest.raises(StoreUnavailable):
        publisher.reconfigure(elsewhere)
    assert publisher.document(page) is first
    model.down = False
    again = publisher.document(page)  # the new settings, once the store is back
    assert again is not None and b"<h1>Elsewhere</h1>" in again.body


def test_with_the_store_down_from_the_start_the_page_still_links_the_feeds(
    seeded: PipelineSession, clock: ManualClock
) -> None:
    model = _Failing(seeded.store.read_model)
    publisher = Publisher(seeded.settings, seeded.store.log, model, clock, write_files=False)
    publisher.current()  # the feeds have an edition; the page was never rendered
    model.down = True
    app = create_app(publisher, healthy, lambda: b"")
    with running(app) as base:
        answer = httpx.get(base + "/")
        model.down = False
        recovered = httpx.get(base + "/")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store" and "etag" not in answer.headers
    assert answer.headers["content-security-policy"] == timeline.CONTENT_SECURITY_POLICY
    page = parse(answer.content)
    assert "The updates cannot be shown right now." in text(page.find(".//header"))
    assert not articles(page)
    hrefs = {a.get("href") for a in page.find(".//nav").iter("a")}
    assert {"/feed.atom", "/feed.json", "/sources/aljazeera.atom"} <= hrefs
    assert [int(h.tag[1]) for h in page.iter("h1", "h2", "h3")] == [1, 2, 2]
    assert recovered.status_code == 200 and "etag" in recovered.headers
    assert len(articles(parse(recovered.content))) == SEED_UPDATES


def test_the_page_shows_the_same_window_as_the_merged_feed(
    project: Project, clock: ManualClock
) -> None:
    # Ten of 46: the first collect brings the outlets a blog at a time, so the
    # ten that arrived last are not the ten newest by publication time, and a
    # page that took the newest would disagree with /feed.atom.
    text_ = project.config.read_text(encoding="utf-8")
    project.config.write_text(text_.replace("max_entries = 100", "max_entries = 10"), "utf-8")
    with served_seeds(project, clock) as served:
        feed = feedparser.parse(served.get("/feed.atom").content)
        page = parse(served.get("/").content)
    feed_times = sorted(
        timeline.rfc3339(datetime(*e.published_parsed[:6], tzinfo=UTC)) for e in feed.entries
    )
    page_times = sorted(a.find(".//time").get("datetime") for a in articles(page))
    assert len(feed.entries) == 10
    assert page_times == feed_times
