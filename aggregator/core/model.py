"""What extraction produces, and how an entry is identified and fingerprinted.

Extractors turn bytes into a `Page` of `ExtractedEntry` values; nothing here
does I/O or reads a clock. The content hash decides whether a re-polled entry
was revised: it covers only what a reader sees as the update's substance
(title and body), normalised so that whitespace or Unicode-form noise never
counts as an edit. It is versioned so that a future change to the recipe can be
told apart from a change to the content.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

CONTENT_HASH_VERSION = 1

Format = Literal["auto", "feed", "liveblog-html", "liveblog-text"]

MAX_ENTRIES_PER_POLL = 2000
"""How many entries one poll keeps by default: the newest (see `ingest.extract.cap`)."""

Strategy = Literal["feed", "json-ld", "selectors", "microdata", "generic", "text"]
"""Which reading of a page produced its entries (see `aggregator.extract`)."""


@dataclass(frozen=True, slots=True)
class ExtractedEntry:
    """One update as a source presents it, with every time already in UTC.

    `key` identifies the update within its source and must not change when
    the update is edited or when newer updates are added around it.
    `notes` records anything the extractor had to decide that a person might
    question (a zone label that contradicts the configured zone, a time taken
    from configuration rather than the page).
    `id` is the update's own global identifier when the source gives one (a
    feed entry's atom:id or RSS guid, a JSON-LD `@id`): it becomes the Atom id
    of our entry (RFC 4287 4.2.6 asks aggregators to keep it) when it is an
    absolute IRI that no other source claimed first (see `ingest.plan`).
    """

    key: str
    title: str
    content_html: str
    published: datetime
    updated: datetime | None = None
    link: str | None = None
    author: str | None = None
    notes: tuple[str, ...] = ()
    id: str | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("published", "updated"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() != UTC.utcoffset(None):
                raise ValueError(f"{name} must be an aware UTC datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class Page:
    """Everything one fetch of a source yielded: its entries plus page metadata.

    `strategy` names the reading that produced the entries; where two readings
    were merged (JSON-LD plus the page's own blocks) it names the first.
    """

    entries: tuple[ExtractedEntry, ...]
    title: str | None = None
    author: str | None = None
    notes: tuple[str, ...] = ()
    strategy: Strategy = "text"


@dataclass(frozen=True, slots=True)
class ExtractContext:
    """What an extractor may know besides the bytes: no I/O, no clock.

    `page_url` is the address used to build links and resolve relative ones
    (the source's public `link` when configured, else the fetched URL).
    `day` is the source's configured date (the day its earliest update was
    written) and `start` the configured start time, if one was given.
    `server_date` is the HTTP `Date` header of the response, when there was one.
    `selectors` holds the source's configured CSS selectors for HTML pages
    without JSON-LD (keys: update, time, title, body; update is required).
    `max_entries` is how many entries the page may yield: the newest are kept.
    """

    source: str
    page_url: str
    fetched_at: datetime
    timezone: ZoneInfo
    day: date | None = None
    start: datetime | None = None
    author: str | None = None
    content_type: str | None = None
    server_date: datetime | None = None
    selectors: Mapping[str, str] = field(default_factory=dict)
    max_entries: int = MAX_ENTRIES_PER_POLL


def normalise_text(text: str) -> str:
    """NFC-normalise and fold every run of white space (NBSP included) to one space.

    str.split() splits on exactly the characters `\\s` matches (29 code
    points, NBSP among them), three times faster than a regex; the output,
    and so every stored hash, is the same.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


def content_hash(title: str, content_html: str) -> str:
    """Versioned fingerprint of an entry's substance: title and body only.

    Links, times, authors and extraction notes are left out: they are either
    identity (published) or volatile presentation, and a change to them is not
    an edit a reader needs to be told about.
    """
    body = json.dumps([normalise_text(title), normalise_text(content_html)], ensure_ascii=False)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return f"v{CONTENT_HASH_VERSION}:{digest}"


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_IP_LITERAL = re.compile(r"\[[0-9A-Za-z:.\-_~!$&'()*+,;=]+\](?::[0-9]*)?")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# iunreserved, sub-delims, the general delimiters and '%'; where '#', '[', ']'
# and '%' may stand is checked apart.
_IRI_ASCII = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?#[]%")
_UCSCHAR = (
    (0xA0, 0xD7FF),
    (0xF900, 0xFDCF),
    (0xFDF0, 0xFFEF),
    *((plane << 16, (plane << 16) + 0xFFFD) for plane in range(1, 14)),
    (0xE1000, 0xEFFFD),
)
_IPRIVATE = ((0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD))
# RFC 3987 4.1: an IRI must not hold bidirectional formatting characters.
_BIDI_FORMATTING = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e")


def is_absolute_iri(text: str) -> bool:
    """Whether `text` is an absolute IRI (RFC 3987), as an Atom id must be (RFC 4287 4.2.6).

    A scheme, ':', then a rest that is not empty (an id that names nothing
    identifies nothing) made only of the characters an IRI may hold: ASCII
    letters, digits and delimiters, '%' only as the start of a %XX escape, '['
    and ']' only around the host (an IP literal), one '#' at most, and the non-ASCII
    characters of `ucschar` (private-use ones only in the query). White space
    of any kind, controls and bidirectional formatting characters are never
    part of one. So `123`, `abc`, `//host/x` and `a b:c` are not, and
    `urn:uuid:...`, `tag:example.org,2020:x` and `https://example.org/1` are.
    """
    scheme = _SCHEME.match(text)
    if scheme is None or scheme.end() == len(text):
        return False
    rest = text[scheme.end() :]
    if rest.count("#") > 1 or _LONE_PERCENT.search(rest):
        return False
    before_fragment, _, fragment = rest.partition("#")
    hierarchy, _, query = before_fragment.partition("?")
    authority = hierarchy[2:].partition("/")[0] if hierarchy.startswith("//") else ""
    outside = (hierarchy[2 + len(authority) :] if authority else hierarchy) + query + fragment
    if "[" in outside or "]" in outside:
        return False
    host = authority.rpartition("@")[2]
    if ("[" in host or "]" in host) and not _IP_LITERAL.fullmatch(host):
        return False
    if rest.isascii():
        # Nearly every id: one set test instead of a call per character
        # (which was a fifth of a cold poll's planning).
        return _IRI_ASCII.issuperset(rest)
    return all(_iri_char(c, _UCSCHAR) for c in hierarchy + fragment) and all(
        _iri_char(c, _UCSCHAR + _IPRIVATE) for c in query
    )


def _iri_char(char: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    if char in _IRI_ASCII:
        return True
    code = ord(char)
    return (
        not char.isspace()
        and char not in _BIDI_FORMATTING
        and any(low <= code <= high for low, high in ranges)
    )
