"""Bytes in, entries out: one extractor per input format, chosen by `format`.

Extractors are pure (no I/O, no clock: the fetch time arrives in the
`ExtractContext`), which is what lets golden tests pin their output exactly.
"""

from __future__ import annotations

import re

from aggregator.extract import feed, liveblog_html, liveblog_text
from aggregator.model import ExtractContext, Format, Page

_FEED_MARKERS = (b"<rss", b"<feed", b"<rdf:rdf")
_JSON_FEED = re.compile(rb'"version"\s*:\s*"https?://jsonfeed\.org')
_HTML_STARTS = (b"<!doctype html", b"<html")


def detect_format(body: bytes, content_type: str | None = None) -> Format:
    """Guess a source's format from its bytes, then from its Content-Type.

    The bytes win: servers label feeds text/html and pages text/plain often
    enough that the header is only a tie-breaker.
    """
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_HTML_STARTS):
        return "liveblog-html"
    if any(marker in head for marker in _FEED_MARKERS) or _JSON_FEED.search(head):
        return "feed"
    media = (content_type or "").split(";")[0].strip().lower()
    if media.endswith(("rss+xml", "atom+xml", "feed+json", "/xml")):
        return "feed"
    if media == "text/html" or b"<body" in head or b"<div" in head:
        return "liveblog-html"
    return "liveblog-text"


def extract(body: bytes, context: ExtractContext, fmt: Format) -> Page:
    chosen = detect_format(body, context.content_type) if fmt == "auto" else fmt
    if chosen == "liveblog-text":
        return liveblog_text.extract(body, context)
    if chosen == "feed":
        return feed.extract(body, context)
    return liveblog_html.extract(body, context)
