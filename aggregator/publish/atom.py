"""RFC 4287 Atom documents from a read model.

Output depends only on the configuration and the read model, never on the
wall clock: the feed's `updated` is the latest entry change it contains, so
replaying the log reproduces the same bytes. Entries are newest first by
publication time. Each entry carries an `atom:source` naming its outlet, so a
reader of the merged feed can tell who reported what.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from aggregator import __version__
from aggregator.config import FeedConfig, SourceConfig
from aggregator.extract.sanitize import strip_xml_illegal
from aggregator.store.base import EntryState

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(value: datetime) -> str:
    """UTC with a Z; fractional seconds only when there are any."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class FeedHead:
    """The feed-level metadata of one document."""

    id: str
    title: str
    author: str
    self_url: str
    alternate_url: str
    subtitle: str | None = None


def merged_head(feed: FeedConfig) -> FeedHead:
    return FeedHead(
        id=feed.id,
        title=feed.title,
        author=feed.author,
        self_url=f"{feed.base_url}/feed.atom",
        alternate_url=f"{feed.base_url}/",
        subtitle=feed.subtitle,
    )


def source_head(feed: FeedConfig, source: SourceConfig) -> FeedHead:
    return FeedHead(
        id=source.id,
        title=source.title,
        author=source.author or source.title,
        self_url=f"{feed.base_url}/sources/{source.name}.atom",
        alternate_url=source.link,
    )


def render_feed(
    head: FeedHead,
    entries: Iterable[EntryState],
    sources: dict[str, SourceConfig],
    fallback_updated: datetime | None,
) -> bytes:
    """One Atom document; `fallback_updated` dates a document with no entries."""
    entries = list(entries)
    updated = max((e.updated for e in entries), default=fallback_updated or EPOCH)
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    _text(root, "id", head.id)
    _text(root, "title", head.title)
    if head.subtitle:
        _text(root, "subtitle", head.subtitle)
    _text(root, "updated", rfc3339(updated))
    _text(ET.SubElement(root, "author"), "name", head.author)
    _link(root, "self", head.self_url, ATOM_TYPE)
    _link(root, "alternate", head.alternate_url, "text/html")
    generator = _text(root, "generator", "aggregator")
    generator.set("version", __version__)
    for entry in entries:
        _entry(root, entry, sources.get(entry.source))
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", xml_declaration=False)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n").encode("utf-8")


def _entry(root: ET.Element, entry: EntryState, source: SourceConfig | None) -> None:
    element = ET.SubElement(root, "entry")
    outlet = source.title if source else entry.source
    _text(element, "id", entry.entry_id)
    _text(element, "title", entry.title)
    _text(element, "updated", rfc3339(entry.updated))
    _text(element, "published", rfc3339(entry.published))
    _text(ET.SubElement(element, "author"), "name", entry.author or outlet)
    link = entry.link or (source.link if source else None)
    if link:
        _link(element, "alternate", link, "text/html")
    for term in entry.categories:
        ET.SubElement(element, "category", {"term": strip_xml_illegal(term)})
    content = _text(element, "content", entry.content_html)
    content.set("type", "html")
    origin = ET.SubElement(element, "source")
    _text(origin, "id", source.id if source else entry.source)
    _text(origin, "title", outlet)
    if source:
        _link(origin, "alternate", source.link, "text/html")
    # The source feed as this entry version was copied from it: updated no
    # earlier than the entry itself. Not the source's latest change, which
    # would alter every older entry of the source whenever a new one arrives,
    # so that a feed reader saw them all as modified.
    _text(origin, "updated", rfc3339(entry.updated))


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = strip_xml_illegal(value)
    return element


def _link(parent: ET.Element, rel: str, href: str, media_type: str) -> None:
    ET.SubElement(parent, "link", {"rel": rel, "type": media_type, "href": strip_xml_illegal(href)})
