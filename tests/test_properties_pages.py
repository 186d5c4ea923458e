"""Property test: random pages and feeds, polled in random orders with random edits.

Hypothesis builds a small live story (updates with ids, times, and hostile
decoration: markup, entities, right-to-left text, emoji, a `</script>` where a
JSON-LD block must survive it) and a history of versions in which updates
appear, are edited visibly, are touched only in white space, or drop out. The
versions are rendered as bytes in one of four formats (RSS 2.0, Atom 1.0,
JSON Feed 1.1, an HTML live page with JSON-LD), polled in a random order (a
cache or a CDN may well serve an older version after a newer one), through
the real extractors, `plan_poll`, the log and the fold. After every poll:

* no update has two entries, and every update seen has one;
* every visible change since the last recorded version is one revision, and
  nothing else is: the expected version numbers come from the generator's
  own edit counters, not from any hash the code computes;
* the merged feed is valid Atom with no dangerous markup.

At the end a fresh replay of the log equals the live read model.
"""

from __future__ import annotations

import asyncio
import html
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.config import FeedConfig, Settings, SourceConfig
from aggregator.ingest.fetch import FetchResult
from aggregator.ingest.poll import poll_source
from aggregator.publish.files import render_merged
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryEventLog, MemoryReadModel
from tests.atom_checks import atom_problems, dangerous_markup
from tests.support import ManualClock

T0 = datetime(2020, 9, 27, 8, 0, tzinfo=UTC)
FORMATS = ("rss", "atom", "jsonfeed", "jsonld")
CONTENT_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "jsonfeed": "application/feed+json",
    "jsonld": "text/html; charset=utf-8",
}
# Decoration that stays the same across an update's versions: it must reach the
# feed cleaned (markup) or intact (text), and never count as an edit.
DECORATION = st.sampled_from(
    [
        "",
        "<b>bold</b> &amp; <i>italic</i>",
        '<script>alert("x")</script>',
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">link</a>',
        "</script><script>alert(2)</script>",
        "\u0639\u0627\u062c\u0644 \u05d7\u05d3\u05e9\u05d5\u05ea \u202eevil\u202c",
        "\U0001f469\U0001f3fd\u200d\U0001f692 \U0001f1fa\U0001f1e6",
        "quotes \" ' & < > \u201c\u201d",
    ]
)


class StaticFetcher:
    """Hands `poll_source` the rendered bytes: the network is not what is tested here."""

    def __init__(self, body: bytes, content_type: str, clock: ManualClock) -> None:
        self._result = FetchResult(
            url="https://example.org/", fetched_at=clock(), body=body, content_type=content_type
        )

    async def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        return self._result


@dataclass(frozen=True)
class Update:
    uid: int
    minute: int
    decoration: str
    edit: int = 0  # visible edits so far: each one changes a word of the text
    noise: int = 0  # white-space-only touches: never an edit

    @property
    def title(self) -> str:
        return f"Update {self.uid} revision {self.edit}"

    @property
    def body(self) -> str:
        gap = " " * (1 + self.noise % 3) + "\n" * (self.noise % 2)
        return f"<p>{self.decoration}</p><p>Report{gap}{self.uid} says{gap}r{self.edit}.</p>"

    @property
    def published(self) -> datetime:
        return T0 + timedelta(minutes=self.minute)


def story() -> st.SearchStrategy[list[dict[int, Update]]]:
    """Versions of a story: each a map uid -> the update as that version shows it."""

    @st.composite
    def build(draw: st.DrawFn) -> list[dict[int, Update]]:
        count = draw(st.integers(1, 6))
        minutes = draw(st.lists(st.integers(0, 600), min_size=count, max_size=count, unique=True))
        current = {uid: Update(uid, minute, draw(DECORATION)) for uid, minute in enumerate(minutes)}
        versions: list[dict[int, Update]] = []
        for _ in range(draw(st.integers(1, 6))):
            shown: dict[int, Update] = {}
            for uid, update in current.items():
                change = draw(st.sampled_from(["same", "edit", "noise", "absent"]))
                if change == "edit":
                    update = replace(update, edit=update.edit + 1)
                elif change == "noise":
                    update = replace(update, noise=update.noise + 1)
                current[uid] = update
                if change != "absent":
                    shown[uid] = update
            versions.append(shown)
        return versions

    return build()


def render(fmt: str, updates: list[Update]) -> bytes:
    if fmt == "rss":
        items = "".join(
            f"<item><title>{html.escape(u.title)}</title>"
            f'<guid isPermaLink="false">urn:story:{u.uid}</guid>'
            f"<pubDate>{u.published.strftime('%a, %d %b %Y %H:%M:%S GMT')}</pubDate>"
            f"<description>{html.escape(u.body)}</description></item>"
            for u in updates
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            "<title>Story</title><link>https://example.org/</link><description>d</description>"
            f"{items}</channel></rss>"
        ).encode()
    if fmt == "atom":
        entries = "".join(
            f"<entry><id>urn:story:{u.uid}</id><title>{html.escape(u.title)}</title>"
            f"<published>{u.published.isoformat()}</published>"
            f"<updated>{u.published.isoformat()}</updated><author><name>Desk</name></author>"
            f'<content type="html">{html.escape(u.body)}</content></entry>'
            for u in updates
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<id>urn:story</id><title>Story</title><updated>2020-09-27T00:00:00Z</updated>"
            f"{entries}</feed>"
        ).encode()
    if fmt == "jsonfeed":
        document = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Story",
            "items": [
                {
                    "id": f"urn:story:{u.uid}",
                    "title": u.title,
                    "content_html": u.body,
                    "date_published": u.published.isoformat(),
                }
                for u in updates
            ],
        }
        return json.dumps(document, ensure_ascii=False).encode()
    blog = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "headline": "Story",
        "liveBlogUpdate": [
            {
                "@type": "BlogPosting",
                "@id": f"https://example.org/live#update-{u.uid}",
                "headline": u.title,
                "articleBody": u.body,
                "datePublished": u.published.isoformat(),
            }
            for u in updates
        ],
    }
    # "</" would end the script element early; JSON allows "<\/" for it.
    script = json.dumps(blog, ensure_ascii=False).replace("</", "<\\/")
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Story</title>'
        f'<script type="application/ld+json">{script}</script></head>'
        "<body><h1>Story</h1></body></html>"
    ).encode()


def settings_for(fmt: str) -> Settings:
    source = SourceConfig(
        name=f"story-{fmt}",
        url=f"https://example.org/{fmt}",
        format="feed" if fmt != "jsonld" else "liveblog-html",
        interval=timedelta(minutes=5),
        timezone=ZoneInfo("UTC"),
        title="Story",
        link="https://example.org/live",
        id=f"tag:example.org,2020:story-{fmt}",
        author="Desk",
    )
    feed = FeedConfig(
        title="Merged",
        id="tag:example.org,2020:merged",
        base_url="http://127.0.0.1:8080",
        max_entries=100,
        output_dir=Path("unused"),
        author="aggregator",
    )
    return Settings(path=Path("property.toml"), database_url="", feed=feed, sources=(source,))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    fmt=st.sampled_from(FORMATS),
    versions=story(),
    order=st.randoms(use_true_random=False),
)
def test_random_pages_polled_in_random_orders_keep_the_invariants(
    fmt: str, versions: list[dict[int, Update]], order: object
) -> None:
    config = settings_for(fmt)
    source = config.sources[0]
    polls = [*range(len(versions)), len(versions) - 1]  # the latest once more
    order.shuffle(polls)  # type: ignore[attr-defined]
    log = MemoryEventLog(clock=lambda: T0)
    live = MemoryReadModel()
    recorded: dict[int, int] = {}  # uid -> edit counter of the last recorded version
    expected_version: dict[int, int] = {}
    for n, index in enumerate(polls):
        updates = sorted(versions[index].values(), key=lambda u: u.uid)
        body = render(fmt, updates)
        clock = ManualClock(T0 + timedelta(days=1, minutes=n))
        fetcher = StaticFetcher(body, CONTENT_TYPES[fmt], clock)
        asyncio.run(poll_source(source, fetcher, log, live, clock))  # type: ignore[arg-type]
        for update in updates:
            if update.uid not in recorded:
                expected_version[update.uid] = 1
            elif recorded[update.uid] != update.edit:
                expected_version[update.uid] += 1
            recorded[update.uid] = update.edit

        entries = live.entries()
        titles = {e.title: e.version for e in entries}
        assert len(entries) == len(expected_version), [e.title for e in entries]
        assert len({e.key for e in entries}) == len(entries)
        for uid, version in expected_version.items():
            title = f"Update {uid} revision {recorded[uid]}"
            assert titles.get(title) == version, (title, titles)
        document = render_merged(config, live)
        assert atom_problems(document) == []
        assert dangerous_markup(document) == []

    replayed = MemoryReadModel()
    catch_up(log, replayed)
    assert replayed.entries() == live.entries()
    assert replayed.sources() == live.sources()
