"""The catalog: every document the aggregator publishes, in one table.

A row is one kind of document in one format: the merged feed, a source's
feed, a story's feed, an archive page or the timeline page, each as Atom,
JSON Feed or HTML. It says where the document is served (a path below
`[feed] base_url`, with `{name}` standing for the document's name: a source
name, a story digest, a page number), where it is written (a path below
`output_dir`, or None for a document that is only served), its media type,
whether it is a WebSub topic, and the function that renders it. Everything
else reads these rows: the files `collect` writes, the routes `aggregator run`
serves, the `self` and `related` links inside the documents, the timeline's
links and the topics pinged to a hub. So a URL is spelled once, here, and
adding a format is one renderer and its rows.

Renderers take a `View`, one read of the read model that every document of
one update shares (the Atom and JSON twins of a feed are rendered from the
same entries), and the document's address; they return the bytes, or None
when there is no such document (a story no entry is in).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from aggregator.config import NAME_PATTERN, FeedConfig, Settings, SourceConfig
from aggregator.core.states import EntryState, SourceState, newest_first
from aggregator.publish import atom, jsonfeed, timeline
from aggregator.publish.archive import Paging, fair_share, page_history, subscription_history
from aggregator.store.base import ReadModel

STORY_PREFIX = "story:"  # a story id is this and a hex digest (`follow.stories.cluster.story_id`)


class Kind(Enum):
    """What a document is of; each kind has its documents in every format of its rows."""

    MERGED = "merged"  # the subscription feed: every source, the latest entries
    SOURCE = "source"  # one per configured source
    STORY = "story"  # one per cross-outlet story
    ARCHIVE = "archive"  # one per RFC 5005 archive page of the merged feed
    TIMELINE = "timeline"  # the merged feed's window as a page


# The names a URL may give a document of each kind: a configured source's
# name, a story's digest, an archive page's number as its URL spells it (no
# sign, no leading zero); the others are one document, named "".
_NAMES = {
    Kind.SOURCE: NAME_PATTERN,
    Kind.STORY: re.compile(r"[0-9a-f]{1,64}"),
    Kind.ARCHIVE: re.compile(r"[1-9][0-9]{0,8}"),
}


@dataclass(frozen=True, slots=True)
class Format:
    """A document format: its name as the timeline shows it, the media type
    links name it by, and the Content-Type it is served with."""

    name: str
    media_type: str
    content_type: str


ATOM = Format("Atom", atom.ATOM_TYPE, f"{atom.ATOM_TYPE}; charset=utf-8")
JSON_FEED = Format("JSON Feed", jsonfeed.JSON_FEED_TYPE, jsonfeed.JSON_FEED_TYPE)
HTML = Format("HTML", "text/html", "text/html; charset=utf-8")


class View:
    """One read of the read model, shared by the documents rendered from it.

    Each read is made once, when a renderer first asks, so two formats of a
    feed show the same entries. `paging` and `states` are the caller's, when
    it has read them already.
    """

    def __init__(
        self,
        settings: Settings,
        model: ReadModel,
        paging: Paging | None = None,
        states: Mapping[str, SourceState] | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.paging = Paging.of(settings.feed, model.arrivals()) if paging is None else paging
        self.outlets = {source.name: source for source in settings.sources}
        self._states = states
        self._entries: dict[tuple[str, str], list[EntryState]] = {}
        self._shares: tuple[set[int], set[int]] | None = None

    def states(self) -> Mapping[str, SourceState]:
        if self._states is None:
            self._states = self.model.sources()
        return self._states

    def window(self) -> list[EntryState]:
        """The merged feed's entries, newest first: at most `max_entries` of the
        latest arrivals, shared fairly between sources (see `publish.archive`);
        the timeline shows the same."""
        return self._read("window", "", lambda: self.model.numbered(self._split()[0]))

    def source(self, name: str) -> list[EntryState]:
        limit = self.settings.feed.max_entries
        return self._read("source", name, lambda: self.model.entries(source=name, limit=limit))

    def story(self, story: str) -> list[EntryState]:
        return self._read("story", story, lambda: self.model.entries(story=story))

    def page(self, page: int) -> list[EntryState]:
        """Archive page `page`: its stretch of arrival numbers, and on the open
        page the entries of the window's span that the window leaves out."""
        first, last = self.paging.span(page)

        def read() -> list[EntryState]:
            filed = self.model.arrived(first, last) if first <= last else []
            if page != self.paging.pages or self.paging.reach == self.paging.window:
                return filed  # a full page, or a span the window takes whole
            return newest_first([*filed, *self.model.numbered(self._split()[1])])

        return self._read("page", str(page), read)

    def _split(self) -> tuple[set[int], set[int]]:
        """The arrival numbers of the window's span that the window shows, and
        those it leaves out: one read of the span's numbers and sources."""
        if self._shares is None:
            span = self.model.arrival_sources(*self.paging.window_span())
            shown = fair_share(span, self.paging.window)
            self._shares = shown, {arrival for arrival, _ in span} - shown
        return self._shares

    def _read(self, what: str, name: str, read: Callable[[], list[EntryState]]) -> list[EntryState]:
        key = (what, name)
        if key not in self._entries:
            self._entries[key] = read()
        return self._entries[key]


class Address(NamedTuple):
    """One document: a row and the document's name in it ("" for a row of one)."""

    row: Row
    name: str = ""


Renderer = Callable[[View, Address], bytes | None]


@dataclass(frozen=True, eq=False)
class Row:
    """One kind of document in one format (see the module doc)."""

    kind: Kind
    format: Format
    url: str  # below base_url; `{name}` is the document's name
    file: str | None  # below output_dir, or None: served only
    topic: bool  # a WebSub topic: advertises the hub, pinged when it changes
    render: Renderer
    headers: Mapping[str, str] = field(default_factory=dict)  # sent with it over HTTP
    # What to serve (uncached) when the log cannot be read and no rendering
    # of the document stands in; None: the request fails.
    fallback: Callable[[Settings], bytes] | None = None


def path(address: Address) -> str:
    """The document's URL path, below base_url (what the timeline links to)."""
    return address.row.url.replace("{name}", address.name)


def url(feed: FeedConfig, address: Address) -> str:
    """The document's absolute URL: its `self` link and its WebSub topic."""
    return feed.base_url + path(address)


def file(settings: Settings, address: Address) -> Path | None:
    """Where the document is written; None when it is only served."""
    if address.row.file is None:
        return None
    return settings.feed.output_dir / address.row.file.replace("{name}", address.name)


def directory(settings: Settings, row: Row) -> Path | None:
    """The directory the row's files are written to; None when it is only served."""
    return None if row.file is None else (settings.feed.output_dir / row.file).parent


def on_disk(settings: Settings, row: Row) -> dict[str, Path]:
    """The row's documents now in `output_dir`, by name: the files of its
    directory whose name is the row's file name for a name it accepts."""
    folder = directory(settings, row)
    if row.file is None or folder is None or not folder.is_dir():
        return {}
    before, _, after = Path(row.file).name.partition("{name}")
    named = re.compile(re.escape(before) + "(.+)" + re.escape(after))
    found = {}
    for entry in folder.iterdir():
        match = named.fullmatch(entry.name)
        if match is not None and valid_name(row.kind, match.group(1)):
            found[match.group(1)] = entry
    return found


def rows(kind: Kind) -> tuple[Row, ...]:
    """The kind's rows, in the table's order (its preferred format first)."""
    return tuple(row for row in CATALOG if row.kind is kind)


def story_name(story: str) -> str:
    """A story's name in URLs: its id without the `story:` prefix (colon-free)."""
    return story.removeprefix(STORY_PREFIX)


def valid_name(kind: Kind, name: str) -> bool:
    """Whether `name` can name a document of `kind` at all (before any lookup):
    the names a request may bring are checked against this, never joined to
    a path."""
    pattern = _NAMES.get(kind)
    return name == "" if pattern is None else pattern.fullmatch(name) is not None


def settled(address: Address, paging: Paging) -> bool:
    """Whether the document's entries are fixed: a full archive page, which
    caches may keep for a day (`archive.FULL_PAGE_MAX_AGE`)."""
    return address.row.kind is Kind.ARCHIVE and paging.full(int(address.name))


# -- renderers -------------------------------------------------------------------------


def _story_links(feed: FeedConfig) -> atom.StoryLinks:
    """Stories as entries name them: the scheme is where story feeds live, and
    each entry links its story's first-format (Atom) feed."""
    first = rows(Kind.STORY)[0]
    return atom.StoryLinks(
        scheme=feed.base_url + first.url[: first.url.index("{name}")],
        feed_url=lambda story: url(feed, Address(first, story_name(story))),
    )


def _timeline_url(feed: FeedConfig) -> str:
    return url(feed, Address(rows(Kind.TIMELINE)[0]))


def merged_head(feed: FeedConfig, address: Address) -> atom.FeedHead:
    """The merged feed's head; an archive page is the same logical feed (the same id)."""
    return atom.FeedHead(
        id=feed.id,
        title=feed.title,
        author=feed.author,
        self_url=url(feed, address),
        alternate_url=_timeline_url(feed),
        subtitle=feed.subtitle,
        stories=_story_links(feed),
        hub=feed.hub if address.row.topic else None,
    )


def source_head(feed: FeedConfig, source: SourceConfig, address: Address) -> atom.FeedHead:
    return atom.FeedHead(
        id=source.id,
        title=source.title,
        author=source.author or source.title,
        self_url=url(feed, address),
        alternate_url=source.link,
        stories=_story_links(feed),
        hub=feed.hub if address.row.topic else None,
    )


def _story_head(feed: FeedConfig, address: Address, first_title: str) -> atom.FeedHead:
    """A story's feed: every outlet's report of one fact, titled by the first
    report; its page is the story's place on the timeline."""
    return atom.FeedHead(
        id=f"{feed.id}/stories/{address.name}",  # an id, fixed for good: not a URL
        title=f"Story: {first_title}",
        author=feed.author,
        self_url=url(feed, address),
        alternate_url=f"{_timeline_url(feed)}#{address.name}",
        subtitle="The same fact as reported by each outlet, newest first",
        stories=_story_links(feed),
        hub=feed.hub if address.row.topic else None,
    )


def _archive(
    feed: FeedConfig, links: tuple[tuple[str, int | None], ...]
) -> tuple[tuple[str, str], ...]:
    """RFC 5005 links as (rel, URL): a page number is that archive page, None the
    merged feed (its first-format document, which the pages are archives of)."""
    page, merged = rows(Kind.ARCHIVE)[0], rows(Kind.MERGED)[0]
    return tuple(
        (rel, url(feed, Address(merged) if number is None else Address(page, str(number))))
        for rel, number in links
    )


def _merged_atom(view: View, address: Address) -> bytes:
    feed = view.settings.feed
    head = dataclasses.replace(
        merged_head(feed, address), history=_archive(feed, subscription_history(view.paging))
    )
    return atom.render_feed(head, view.window(), view.outlets, None)


def _merged_json(view: View, address: Address) -> bytes:
    head = merged_head(view.settings.feed, address)
    return jsonfeed.render_json_feed(head, view.window(), view.outlets)


def _source_atom(view: View, address: Address) -> bytes | None:
    source = view.outlets.get(address.name)
    if source is None:
        return None
    head = source_head(view.settings.feed, source, address)
    return atom.render_feed(head, view.source(source.name), view.outlets, None)


def _source_json(view: View, address: Address) -> bytes | None:
    source = view.outlets.get(address.name)
    if source is None:
        return None
    head = source_head(view.settings.feed, source, address)
    return jsonfeed.render_json_feed(head, view.source(source.name), view.outlets)


def _story_entries(view: View, address: Address) -> tuple[list[EntryState], str] | None:
    """A story's members, newest first, and its first report's title; None if none."""
    entries = view.story(STORY_PREFIX + address.name)
    if not entries:
        return None
    return entries, min(entries, key=lambda e: (e.published, e.source, e.key)).title


def _story_atom(view: View, address: Address) -> bytes | None:
    found = _story_entries(view, address)
    if found is None:
        return None
    head = _story_head(view.settings.feed, address, found[1])
    return atom.render_feed(head, found[0], view.outlets, None)


def _story_json(view: View, address: Address) -> bytes | None:
    found = _story_entries(view, address)
    if found is None:
        return None
    head = _story_head(view.settings.feed, address, found[1])
    return jsonfeed.render_json_feed(head, found[0], view.outlets)


def _archive_atom(view: View, address: Address) -> bytes | None:
    """Archive page `name`, its entries newest first.

    Its `updated` is the latest change of an entry on it; the open page with no
    entry yet takes the newest archived entry's, so it too depends on the log
    alone.
    """
    page, paging, feed = int(address.name), view.paging, view.settings.feed
    if not 1 <= page <= paging.pages:
        return None
    entries = view.page(page)
    fallback = None
    if not entries and paging.archived:
        newest = view.model.arrived(paging.archived, paging.archived)
        fallback = newest[0].updated if newest else None
    head = dataclasses.replace(
        merged_head(feed, address),
        history=_archive(feed, page_history(paging, page)),
        archive=True,
    )
    return atom.render_feed(head, entries, view.outlets, fallback)


def page_links(settings: Settings) -> timeline.PageLinks:
    """What the timeline links to: the merged feed and each source's, in every
    format, and each story's feeds."""

    def alternates(kind: Kind, name: str) -> tuple[timeline.Alternate, ...]:
        return tuple(
            timeline.Alternate(row.format.name, row.format.media_type, path(Address(row, name)))
            for row in rows(kind)
        )

    feeds = [timeline.FeedLinks(settings.feed.title, "All outlets", alternates(Kind.MERGED, ""))]
    feeds += [
        timeline.FeedLinks(s.title, s.title, alternates(Kind.SOURCE, s.name))
        for s in settings.sources
    ]
    return timeline.PageLinks(
        feeds=tuple(feeds),
        story=lambda story: (story_name(story), alternates(Kind.STORY, story_name(story))),
    )


def _timeline_html(view: View, address: Address) -> bytes:
    return timeline.render_timeline(view.settings, view.window(), page_links(view.settings))


def _timeline_unavailable(settings: Settings) -> bytes:
    return timeline.render_unavailable(settings, page_links(settings))


# -- the table ------------------------------------------------------------------------

# As readers meet them, the subscription feed first; within a kind, the format
# a reader should take first comes first. Files are written in the reverse
# order: archive pages before the feed whose prev-archive names them, and the
# merged Atom feed, which scripts watch as "the feeds are written", last.
MERGED_ATOM = Row(Kind.MERGED, ATOM, "/feed.atom", "feed.atom", True, _merged_atom)
MERGED_JSON = Row(Kind.MERGED, JSON_FEED, "/feed.json", "feed.json", True, _merged_json)
SOURCE_ATOM = Row(
    Kind.SOURCE, ATOM, "/sources/{name}.atom", "sources/{name}.atom", True, _source_atom
)
SOURCE_JSON = Row(
    Kind.SOURCE, JSON_FEED, "/sources/{name}.json", "sources/{name}.json", True, _source_json
)
# Stories come and go with the log and each is a few entries: served, not written.
STORY_ATOM = Row(Kind.STORY, ATOM, "/stories/{name}.atom", None, False, _story_atom)
STORY_JSON = Row(Kind.STORY, JSON_FEED, "/stories/{name}.json", None, False, _story_json)
ARCHIVE_ATOM = Row(
    Kind.ARCHIVE, ATOM, "/archive/{name}.atom", "archive/{name}.atom", False, _archive_atom
)
TIMELINE_HTML = Row(
    Kind.TIMELINE,
    HTML,
    "/",
    None,
    False,
    _timeline_html,
    headers=timeline.HEADERS,
    fallback=_timeline_unavailable,
)

CATALOG: tuple[Row, ...] = (
    MERGED_ATOM,
    MERGED_JSON,
    SOURCE_ATOM,
    SOURCE_JSON,
    STORY_ATOM,
    STORY_JSON,
    ARCHIVE_ATOM,
    TIMELINE_HTML,
)
