"""Writing the configured sources as an OPML 2.0 document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from lxml import etree

from aggregator.cli.opml.namespace import NAMESPACE, PREFIX
from aggregator.config import Settings, SourceConfig
from aggregator.ingest.extract.sanitize import strip_xml_illegal

SPEC = "http://opml.org/spec2.opml"
_FEED_FORMATS = frozenset({"feed", "auto"})


def export_opml(settings: Settings, now: datetime) -> bytes:
    """Every configured source as one outline, in config order, as UTF-8 bytes.

    The body is flat: the config has no folders to give it. `now` is the
    `dateCreated` (RFC 822, as OPML asks), passed in so that tests can fix it.
    """
    root = etree.Element("opml", nsmap={PREFIX: NAMESPACE})
    root.set("version", "2.0")
    head = etree.SubElement(root, "head")
    _text(head, "title", f"{settings.feed.title}: sources")
    _text(head, "dateCreated", format_datetime(now.astimezone(UTC), usegmt=True))
    _text(head, "docs", SPEC)
    body = etree.SubElement(root, "body")
    for source in settings.sources:
        outline = etree.SubElement(body, "outline")
        for key, value in _outline_attributes(source, settings.feed.id):
            outline.set(key, _xml_text(value))
    declaration = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    return declaration + bytes(
        etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    )


def _outline_attributes(source: SourceConfig, feed_id: str) -> Iterator[tuple[str, str]]:
    """The reader-facing attributes first, then ours (only where they carry something).

    `htmlUrl` is the source's public page. When no `link` was configured it
    defaults to the URL, which for a feed is no web page, so it is left out;
    for a live blog the URL is the page itself. The id is written only when it
    is not the default one derived from the feed's id: an id chosen on purpose
    must survive a move, a derived one follows the feed it is imported into.
    """
    yield "type", "rss"
    yield "text", source.title
    yield "title", source.title
    yield "xmlUrl", source.url
    if source.link != source.url or source.format not in _FEED_FORMATS:
        yield "htmlUrl", source.link
    ours = {
        "name": source.name,
        "format": source.format,
        "interval": _duration_text(source.interval),
        "timezone": source.timezone.key,
    }
    if source.start is not None:
        ours["date"] = source.start.isoformat()
    elif source.day is not None:
        ours["date"] = source.day.isoformat()
    if source.author:
        ours["author"] = source.author
    if source.id != f"{feed_id}/{source.name}":
        ours["id"] = source.id
    for key, selector in source.selectors.items():
        ours[f"selector-{key}"] = selector
    for key, value in ours.items():
        yield f"{{{NAMESPACE}}}{key}", value


def _duration_text(value: timedelta) -> str:
    """'1h30m' as the config spells it; a fractional number of seconds as the number."""
    seconds = value.total_seconds()
    if seconds != int(seconds):
        return repr(seconds)
    whole, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts) or "0s"


def _text(parent: Any, tag: str, value: str) -> None:
    etree.SubElement(parent, tag).text = _xml_text(value)


def _xml_text(value: str) -> str:
    """A config string may hold characters XML 1.0 forbids (TOML escapes them); drop them."""
    return strip_xml_illegal(value)
