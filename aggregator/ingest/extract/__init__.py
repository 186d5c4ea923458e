"""Bytes in, entries out: one extractor per input format, chosen by `format`.

The modules, in the order the bytes flow through them:

- `decode`: bytes to text, by one charset rule for every format.
- `feed`: RSS and Atom (through feedparser) and JSON Feed.
- `liveblog_text`: a plain-text live page; its rules (stamp lines, header,
  lead, keys) are what every reading of a live page means by an update.
- `liveblog_html`: an HTML live page, made a tree by `tree`, then read by
  `jsonld`, `selectors`, `microdata` or `blocks` (which finds its `series`
  and dates it with `block_times`), else as text through `lines`; what the
  readings share is in `markup`.
- Shared by all: `times` and `stamps` (times stated or printed), `titles`,
  `sanitize` and `cap` (the newest `max_entries` of a page are kept).

Extractors are pure (no I/O, no clock: the fetch time arrives in the
`ExtractContext`), which is what lets golden tests pin their output exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from aggregator.core.events import UNSTORABLE, repair_note, repair_text
from aggregator.core.model import ExtractContext, ExtractedEntry, Format, Page
from aggregator.ingest.extract import feed, liveblog_html, liveblog_text
from aggregator.ingest.extract.cap import newest
from aggregator.ingest.extract.decode import opening
from aggregator.ingest.extract.titles import GIVEN_TITLE_LIMIT, cut_title

_FEED_MARKERS = ("<rss", "<feed", "<rdf:rdf")
_JSON_FEED = re.compile(r'"version"\s*:\s*"https?://jsonfeed\.org')
_HTML_STARTS = ("<!doctype html", "<html")
# Conditional comments and licence banners may stand before the doctype.
_LEADING_COMMENTS = re.compile(r"^(?:\s*<!--.*?-->)*\s*", re.DOTALL)


def detect_format(body: bytes, content_type: str | None = None) -> Format:
    """Guess a source's format from its bytes, then from its Content-Type.

    The bytes win: servers label feeds text/html and pages text/plain often
    enough that the header is only a tie-breaker. They are read past their
    byte-order mark, so a UTF-16 page is recognised too.
    """
    head = _LEADING_COMMENTS.sub("", opening(body)).lower()
    if head.startswith(_HTML_STARTS):
        return "liveblog-html"
    if any(marker in head for marker in _FEED_MARKERS) or _JSON_FEED.search(head):
        return "feed"
    media = (content_type or "").split(";")[0].strip().lower()
    if media.endswith(("rss+xml", "atom+xml", "feed+json", "/xml")):
        return "feed"
    if media == "text/html" or "<body" in head or "<div" in head:
        return "liveblog-html"
    return "liveblog-text"


# The reader of each format: a new format is a module with `extract(body,
# context) -> Page`, its `Format` value and its row here (and, if its bytes
# can be told apart, a rule in `detect_format`).
READERS: Mapping[Format, Callable[[bytes, ExtractContext], Page]] = {
    "feed": feed.extract,
    "liveblog-html": liveblog_html.extract,
    "liveblog-text": liveblog_text.extract,
}


def extract(body: bytes, context: ExtractContext, fmt: Format) -> Page:
    chosen = detect_format(body, context.content_type) if fmt == "auto" else fmt
    page = READERS[chosen](body, context)
    kept, cut = newest(page.entries, context.max_entries, lambda entry: entry.published)
    entries = tuple(_bounded_title(_encodable(entry)) for entry in kept)
    notes = tuple(repair_text(note) for note in (*page.notes, *cut))
    if entries == page.entries and notes == page.notes:
        return page
    return replace(page, entries=entries, notes=notes)


_TEXT_FIELDS = ("key", "title", "content_html", "link", "author", "id")


def _encodable(entry: ExtractedEntry) -> ExtractedEntry:
    """Text no database can hold (a JSON "\\ud800" or "\\u0000" escape, a
    JSON-LD headline cut in half) repaired where the entry is read, with its
    note: stored as it was, it failed the write and lost the whole poll
    (`core.events.storable` is the last check before any append)."""
    repaired: dict[str, object] = {}
    for name in _TEXT_FIELDS:
        value = getattr(entry, name)
        if value is not None and UNSTORABLE.search(value):
            repaired[name] = repair_text(value)
    categories = tuple(repair_text(c) for c in entry.categories)
    if categories != entry.categories:
        repaired["categories"] = categories
    notes = tuple(repair_text(note) for note in entry.notes)
    if not repaired and notes == entry.notes:
        return entry
    if repaired:
        notes = (*notes, repair_note(repaired))
    return replace(entry, **repaired, notes=notes)  # type: ignore[arg-type]


def _bounded_title(entry: ExtractedEntry) -> ExtractedEntry:
    """The rule every format shares for titles too long to be titles (see `titles`)."""
    if len(entry.title) <= GIVEN_TITLE_LIMIT:
        return entry
    note = f"title of {len(entry.title)} characters cut to {GIVEN_TITLE_LIMIT}"
    return replace(
        entry, title=cut_title(entry.title, GIVEN_TITLE_LIMIT), notes=(*entry.notes, note)
    )
