"""RFC 4287 Atom documents from a read model.

Output depends only on the configuration and the entries, never on the
wall clock: the feed's `updated` is the latest entry change it contains, so
replaying the log reproduces the same bytes. A feed with no entry yet (a
source that has published nothing, the merged feed of an empty log) has
changed in nothing a publisher considers significant (RFC 4287 4.2.15), so
it is dated the epoch; dating it by the last poll, as it once was, changed
its bytes on every poll that found nothing, 304s included. Entries are newest first by
publication time. Each entry carries an `atom:source` naming its outlet, so a
reader of the merged feed can tell who reported what.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from aggregator import __version__
from aggregator.config import SourceConfig
from aggregator.core.states import EntryState
from aggregator.ingest.extract.sanitize import strip_xml_illegal

ATOM_NS = "http://www.w3.org/2005/Atom"
# RFC 5005's namespace, for `fh:archive` in archive documents.
HISTORY_NS = "http://purl.org/syndication/history/1.0"
ATOM_TYPE = "application/atom+xml"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(value: datetime) -> str:
    """UTC with a Z; fractional seconds only when there are any."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class StoryLinks:
    """How an entry names its cross-outlet story: the category scheme every
    story term belongs to, and the URL of a story's feed (by story id).

    Passed in rather than spelled here: every URL is the catalog's
    (`publish.catalog`), so a document links to where the document is served."""

    scheme: str
    feed_url: Callable[[str], str]


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The feed-level metadata of one document."""

    id: str
    title: str
    author: str
    self_url: str
    alternate_url: str
    subtitle: str | None = None
    stories: StoryLinks | None = None  # None: entries carry no story links
    hub: str | None = None  # a WebSub hub, advertised as `link rel="hub"`
    # RFC 5005 links as (rel, href): `prev-archive`, `next-archive`, `current`.
    history: tuple[tuple[str, str], ...] = ()
    archive: bool = False  # an archive document: carries `fh:archive`


def render_feed(
    head: FeedHead,
    entries: Iterable[EntryState],
    sources: dict[str, SourceConfig],
    fallback_updated: datetime | None,
) -> bytes:
    """One Atom document; `fallback_updated` dates a document with no entries.

    The head is built here; each entry's bytes come from `_entry_xml`, which
    remembers what it rendered: an entry version always renders the same
    (that is what lets readers see it unmodified), so regenerating the feeds
    after one new entry serialises one entry, not the whole window.
    """
    entries = list(entries)
    updated = max((e.updated for e in entries), default=fallback_updated or EPOCH)
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    if head.archive:
        root.set("xmlns:fh", HISTORY_NS)
    _text(root, "id", head.id)
    _text(root, "title", head.title)
    if head.subtitle:
        _text(root, "subtitle", head.subtitle)
    _text(root, "updated", rfc3339(updated))
    _text(ET.SubElement(root, "author"), "name", head.author)
    _link(root, "self", head.self_url, ATOM_TYPE)
    _link(root, "alternate", head.alternate_url, "text/html")
    if head.hub:
        # WebSub 4: the hub and the topic (`self`, above) are advertised together.
        ET.SubElement(root, "link", {"rel": "hub", "href": strip_xml_illegal(head.hub)})
    for rel, href in head.history:
        _link(root, rel, href, ATOM_TYPE)
    if head.archive:
        ET.SubElement(root, "fh:archive")
    generator = _text(root, "generator", "aggregator")
    generator.set("version", __version__)
    ET.indent(root, space="  ")
    document = ET.tostring(root, encoding="unicode", xml_declaration=False)
    opening, closing = document.removesuffix("\n</feed>"), "\n</feed>"
    parts = [opening]
    for entry in entries:
        source = sources.get(entry.source)
        outlet = source.title if source else entry.source
        parts.append("\n  ")
        parts.append(
            _entry_xml(
                entry,
                outlet,
                source.id if source else entry.source,
                source.link if source else None,
                *_story_links(head.stories, entry),
            )
        )
    parts.append(closing)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + "".join(parts) + "\n").encode("utf-8")


def _story_links(stories: StoryLinks | None, entry: EntryState) -> tuple[str, str]:
    """The story category's scheme and the story feed's URL ("" without a story)."""
    if stories is None or entry.story is None:
        return "", ""
    return stories.scheme, stories.feed_url(entry.story)


@functools.lru_cache(maxsize=8192)
def _entry_xml(
    entry: EntryState,
    outlet: str,
    source_id: str,
    source_link: str | None,
    scheme: str,
    story_feed: str,
) -> str:
    """One <entry>, indented as the second level of a feed, without its trailing newline.

    An entry in a cross-outlet story carries the story as a category (the
    same term on every outlet's report, which readers can filter by) and a
    `related` link to the story's own feed, where the reports stand together.
    """
    element = ET.Element("entry")
    _text(element, "id", entry.entry_id)
    _text(element, "title", entry.title)
    _text(element, "updated", rfc3339(entry.updated))
    _text(element, "published", rfc3339(entry.published))
    _text(ET.SubElement(element, "author"), "name", entry.author or outlet)
    link = entry.link or source_link
    if link:
        _link(element, "alternate", link, "text/html")
    for term in entry.categories:
        ET.SubElement(element, "category", {"term": strip_xml_illegal(term)})
    if entry.story is not None and story_feed:
        label = "Also reported by other outlets"
        ET.SubElement(element, "category", {"term": entry.story, "scheme": scheme, "label": label})
        _link(element, "related", story_feed, ATOM_TYPE)
    content = _text(element, "content", entry.content_html)
    content.set("type", "html")
    origin = ET.SubElement(element, "source")
    _text(origin, "id", source_id)
    _text(origin, "title", outlet)
    if source_link is not None:
        _link(origin, "alternate", source_link, "text/html")
    # The source feed as this entry version was copied from it: updated no
    # earlier than the entry itself. Not the source's latest change, which
    # would alter every older entry of the source whenever a new one arrives,
    # so that a feed reader saw them all as modified.
    _text(origin, "updated", rfc3339(entry.updated))
    ET.indent(element, space="  ", level=1)
    return ET.tostring(element, encoding="unicode")


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = strip_xml_illegal(value)
    return element


def _link(parent: ET.Element, rel: str, href: str, media_type: str) -> None:
    ET.SubElement(parent, "link", {"rel": rel, "type": media_type, "href": strip_xml_illegal(href)})
