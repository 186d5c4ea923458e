"""Bytes in, entries out: one extractor per input format, chosen by `format`.

Extractors are pure (no I/O, no clock: the fetch time arrives in the
`ExtractContext`), which is what lets golden tests pin their output exactly.
"""

from __future__ import annotations

from aggregator.errors import ExtractError
from aggregator.extract import feed, liveblog_text
from aggregator.model import ExtractContext, Format, Page

_FEED_MARKERS = (b"<rss", b"<feed", b"<rdf:rdf", b'"version": "https://jsonfeed.org')
_HTML_MARKERS = (b"<!doctype html", b"<html")


def detect_format(body: bytes, content_type: str | None = None) -> Format:
    """Guess a source's format from its bytes (and Content-Type when known)."""
    head = body[:2048].lstrip().lower()
    media = (content_type or "").split(";")[0].strip().lower()
    if media.endswith(("rss+xml", "atom+xml", "feed+json")) or any(
        m in head for m in _FEED_MARKERS
    ):
        return "feed"
    if media == "text/html" or any(head.startswith(m) for m in _HTML_MARKERS):
        return "liveblog-html"
    return "liveblog-text"


def extract(body: bytes, context: ExtractContext, fmt: Format) -> Page:
    chosen = detect_format(body, context.content_type) if fmt == "auto" else fmt
    if chosen == "liveblog-text":
        return liveblog_text.extract(body, context)
    if chosen == "feed":
        return feed.extract(body, context)
    raise ExtractError(f"format {chosen!r} is not supported yet")
