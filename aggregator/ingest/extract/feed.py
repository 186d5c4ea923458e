"""Extract entries from ordinary feeds: RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed 1.0/1.1.

A feed, unlike a live page, already says what its entries are, who wrote them
and when; the work here is to keep what it says faithfully (its own ids, its
own times) and to be explicit, in notes, about every place where it says too
little and something had to be assumed. XML feeds go through feedparser, which
copes with the many broken feeds in the wild; JSON Feed is read here with the
json module. Both end in one `_Item` shape so that the rules below are written
once. The function is pure: bytes and an `ExtractContext` in, a `Page` out.

Rules
-----
- Bytes are read by the rule every format shares (`decode`): the byte-order
  mark, else the Content-Type charset, else the XML declaration (JSON has
  none), else UTF-8, or windows-1252 with a note for bytes that are not.
- Identity: `id` is the entry's own atom:id / RSS guid / RSS 1.0 rdf:about /
  JSON Feed id, verbatim (it becomes our Atom id, RFC 4287 4.2.6; feedparser
  only trims the white space around element text), else None.
  `key` is that id, else the entry's absolute link, else "sha256:" + the hex
  digest of the normalised title and the feed's own published time (never the
  fetch time, so re-polling keeps the key), with a note that the entry's
  identity then depends on its title. A key over 400 characters is replaced
  by "sha256:" + the digest of the key.
- Times are aware UTC. published = the feed's published, else its updated,
  else the fetch time with the note "no date in the feed; first-seen time
  used". updated = the feed's updated, else None. A time more than 15 minutes
  after the fetch is replaced by the fetch time (`times.plausible`), noted.
  A time that could not be read, or that feedparser read as UTC for want of a
  zone it knows, is noted too.
- Title: plain text (tags of html titles stripped, entities unescaped, white
  space collapsed). No title: the first sentence of the text (at most 120
  characters, cut at a word with "…"), noted; no text either: "(untitled)",
  noted.
- Content: the richest body the entry has (html/xhtml content, else text
  content, else the summary); text is HTML-escaped into <p> paragraphs. It is
  passed through `sanitize_html` with the entry's base, so relative links and
  images become absolute: the xml:base in effect for the content (resolved
  against the page URL) when the feed sets one, else the entry's own link
  (where a reader would have seen the markup), else the page URL. JSON Feed
  has no xml:base: the item's url, else the page URL.
- Author: the entry's author names joined with ", ", else the feed's, else
  the configured author. Categories: terms (the label when there is no term),
  de-duplicated in order. Link: the alternate link, made absolute; only
  http(s) links are kept.
- Page: title and author are the feed's. A feed feedparser flags as broken
  ("bozo") that still yields entries gets a Page note with the reason; one
  that yields none raises ExtractError with a reason a person can act on.
  A document that ends early (a truncated download) loses its last recovered
  entry, which the cut mangled, with a note; the next poll brings it whole.
- Entries are returned oldest first (by published, then key). Past
  `max_entries` items, only the newest by published time are read (`cap`),
  with a page note saying how many there were. Parsing is nearly all of a
  feed's cost (12 s and 195 MiB for 50,000 items), so the items of an RSS or
  Atom feed are first found in its bytes (`<item>`, `<entry>`), dated by
  their first pubDate or published, else updated or dc:date (read by
  feedparser's own date parser; none: the fetch time), and the others are
  removed before feedparser sees the document. A feed whose items these
  patterns miss (UTF-16, prefixed names) is parsed whole and cut after.

What feedparser 6.0.14 does (read in its source and tried)
----------------------------------------------------------
- JSON Feed is not supported: it has only the strict and loose XML parsers,
  and JSON comes back bozo ("not well-formed (invalid token)") with no
  entries. Hence the JSON Feed reader below, chosen by the `version` URL.
- Bytes are first tried as a *file name* (`open(body)`) before being parsed;
  the body is therefore wrapped in BytesIO so content can never name a file.
- Zone names: RFC 822 dates use a fixed table: UT/GMT/Z, the North American
  names (EDT is -4, EST -5, PDT -7, ...), MET/MEST and military letters. Any
  other name (BST, CEST, IST) is silently read as +00:00, as is a time with no
  zone at all, and a date without a time becomes 00:00 UTC; a day-named RFC
  822 date with no zone ("Sun, 27 Sep 2020 14:52:00") is not parsed at all.
  feedparser's reading is kept, with a note saying what was assumed.
- dc:date is stored as `updated`, so an RSS 1.0 item's published comes from it.
- `entry.get("updated")` and `updated_parsed` silently return the *published*
  time when the entry has no updated one (a DeprecationWarning about issue
  310); the stored values are read with `dict.get` to see what the feed said.
- With several authors, `author` is only the last one, and an author with an
  email but no name inherits the previous author's "name (email)" as its name;
  names are therefore read from `authors`, and such inherited names dropped.
- Its address pattern allows top-level domains of 2 to 4 letters only, so an
  RSS author "desk@paper.example (Jo Roe)" became the email "desk@paper.exam"
  and the name "ple (Jo Roe"; such a name is re-read from the raw text.
- Its sanitiser removes <script> with its text but keeps the text inside
  <iframe>; it is switched off so that the project's one allow-list decides.
- A relative guid is resolved against the base URI it is given ("12345"
  became "https://…/12345", as id and as link), so the page URL is not handed
  to feedparser; it is applied afterwards, by urljoin for links and by
  `sanitize_html` for content. xml:base inside the feed is still honoured.
- A guid not marked isPermaLink="false" is copied to `link` when the item has
  none; it is used as the link only when it is an absolute URL.
- Links with other schemes (javascript:) are passed through untouched.
- Bytes are decoded by its own detection, which is told the charset `decode`
  chose (the byte-order mark, the Content-Type, the XML declaration, else
  UTF-8 or windows-1252) as the charset of the Content-Type it is given; it
  honours that for every media type, before the declaration. Bytes that belie
  the charset are still recovered its way (UTF-8 that is not, say, read as
  windows-1252), with the problem noted.
- Response headers without a Content-Type make every feed bozo ("no
  Content-type specified"), so a feed served without one is passed as
  application/xml.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import xml.sax
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from feedparser.datetimes import _parse_date  # the parser feedparser reads every date with
from feedparser.datetimes.rfc822 import timezone_names

from aggregator.core.errors import ExtractError
from aggregator.core.model import ExtractContext, ExtractedEntry, Page, normalise_text
from aggregator.ingest.extract.cap import newest
from aggregator.ingest.extract.decode import decode, opening
from aggregator.ingest.extract.sanitize import sanitize_html, sanitized, strip_xml_illegal
from aggregator.ingest.extract.times import plausible
from aggregator.ingest.extract.titles import first_sentence_title

_KEY_LIMIT = 400
_UNTITLED = "(untitled)"
_JSON_FEED_VERSION = "https://jsonfeed.org/version/"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_LINK_SCHEMES = frozenset({"http", "https"})
_KNOWN_ZONES = frozenset(timezone_names) | {"utc"}
# Elements whose text starts a new line when a fragment is turned into text.
_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption"}
    | {"figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p"}
    | {"pre", "section", "table", "td", "th", "tr", "ul"}
)

_TIME_AND_ZONE = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?P<zone>\S*)")
_ZONE_NAME = re.compile(r"[A-Za-z]+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_ADDRESS = re.compile(r"[^\s()<>\"]+@[^\s()<>\"]+")

_NO_DATE = "no date in the feed; first-seen time used"
_TITLE_FROM_TEXT = "no title in the feed; the first sentence of the text was used"
_NO_TITLE_OR_TEXT = f"no title and no text in the feed; {_UNTITLED!r} was used"
_KEY_FROM_TITLE = (
    "the entry has no id or link, so its identity depends on its title and published time: "
    "a changed title will look like a new entry"
)


@dataclass(frozen=True, slots=True)
class _Item:
    """One entry as its feed gave it, before the shared rules make it an `ExtractedEntry`.

    `title` is already plain text ("" when absent); `html` is unsanitised markup
    ("" when the entry has no body); `base` is absolute; the times are the
    feed's own, UTC, not yet checked against the fetch time.
    """

    id: str | None
    link: str | None
    title: str
    html: str
    base: str
    published: datetime | None
    updated: datetime | None
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Feed:
    title: str | None
    authors: tuple[str, ...]
    items: tuple[_Item, ...]
    notes: tuple[str, ...]


def extract(body: bytes, ctx: ExtractContext) -> Page:
    """Read an RSS, Atom or JSON feed into a `Page`, entries oldest first."""
    if not body.strip():
        raise ExtractError("not a feed: the response body is empty")
    feed = _read_json_feed(body, ctx) if _is_json(body) else _read_xml_feed(body, ctx)
    feed_author = ", ".join(feed.authors) or None
    items, cut = newest(feed.items, ctx.max_entries, lambda item: _times(item, ctx.fetched_at)[0])
    entries = sorted(
        (_entry(item, feed_author or ctx.author, ctx) for item in items),
        key=lambda entry: (entry.published, entry.key),
    )
    return Page(
        entries=tuple(entries),
        title=feed.title,
        author=feed_author,
        notes=(*feed.notes, *cut),
        strategy="feed",
    )


# --- shared rules ---------------------------------------------------------------


def _entry(item: _Item, fallback_author: str | None, ctx: ExtractContext) -> ExtractedEntry:
    content, content_notes = sanitized(item.html, item.base) if item.html else ("", ())
    title, title_notes = _title(item.title, content)
    published, updated, time_notes = _times(item, ctx.fetched_at)
    key, key_notes = _key(item, title)
    return ExtractedEntry(
        key=key,
        title=title,
        content_html=content,
        published=published,
        updated=updated,
        link=item.link,
        author=", ".join(item.authors) or fallback_author,
        notes=item.notes + content_notes + time_notes + title_notes + key_notes,
        id=item.id,
        categories=item.categories,
    )


def _times(item: _Item, fetched_at: datetime) -> tuple[datetime, datetime | None, tuple[str, ...]]:
    """Published and updated, each checked against the fetch; the fetch time if neither."""
    notes: list[str] = []
    published = updated = None
    if item.published is not None:
        published, note = plausible(item.published, fetched_at, "published")
        notes += [note] if note else []
    if item.updated is not None:
        updated, note = plausible(item.updated, fetched_at, "updated")
        notes += [note] if note else []
    first = published or updated
    if first is None:
        return fetched_at, None, (*notes, _NO_DATE)
    return first, updated, tuple(notes)


def _key(item: _Item, title: str) -> tuple[str, tuple[str, ...]]:
    notes: tuple[str, ...] = ()
    if item.id is not None:
        key = item.id
    elif item.link is not None:
        key = item.link
    else:
        stamp = item.published.isoformat() if item.published else ""
        key, notes = _digest(f"{normalise_text(title)}\n{stamp}"), (_KEY_FROM_TITLE,)
    return (_digest(key) if len(key) > _KEY_LIMIT else key), notes


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _title(title: str, content_html: str) -> tuple[str, tuple[str, ...]]:
    if title:
        return title, ()
    paragraphs = [normalise_text(line) for line in _html_text(content_html).split("\n")]
    first = next((paragraph for paragraph in paragraphs if paragraph), None)
    if first is None:
        return _UNTITLED, (_NO_TITLE_OR_TEXT,)
    return first_sentence_title(first), (_TITLE_FROM_TEXT,)


# --- text, markup and links -----------------------------------------------------


def _plain(value: str, is_html: bool) -> str:
    """Plain text of a title, name or term: tags gone, entities decoded, spaces folded."""
    return normalise_text(strip_xml_illegal(_html_text(value) if is_html else value))


def _html_text(markup: str) -> str:
    """The text a reader sees in `markup`, one line per block; scripts and the like dropped."""
    reader = _TextReader()
    reader.feed(sanitize_html(markup))
    reader.close()
    return "".join(reader.parts)


class _TextReader(HTMLParser):
    """Collects text (entities decoded), with a line break at each block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _paragraphs(text: str) -> str:
    """Plain text as escaped <p> paragraphs, split at blank lines."""
    blocks = (normalise_text(block) for block in _PARAGRAPH_BREAK.split(text))
    return "".join(f"<p>{html.escape(block, quote=False)}</p>" for block in blocks if block)


def _absolute(href: str, base: str) -> str | None:
    """`href` resolved against `base`, kept only when it is an http(s) URL."""
    if not href.strip():
        return None
    url = urljoin(base, href.strip())
    return url if urlsplit(url).scheme.lower() in _LINK_SCHEMES else None


def _own_id(value: Any) -> str | None:
    """The entry's own identifier, verbatim; None when absent or blank."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if text.strip() else None


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _author_names(details: Iterable[Mapping[str, Any]], raw: str = "") -> tuple[str, ...]:
    """Distinct author names in order, without names feedparser made up.

    feedparser gives an author that has only an email the previous author's
    "name (email)" (or just "name") as its name; both forms are skipped. `raw`
    is the text of the last RSS-style "email (Name)" author, used to re-read a
    name feedparser cut wrongly (see `_name`).
    """
    names: list[str] = []
    carried_over: set[str] = set()
    for detail in details:
        name = _plain(_name(detail, raw), False)
        if name and name not in names and name not in carried_over:
            names.append(name)
        email = _string(detail.get("email"))
        if name and email:
            carried_over.add(f"{name} ({email})")
    return tuple(names)


def _name(detail: Mapping[str, Any], raw: str) -> str:
    """The author's name, re-read from `raw` when feedparser cut its address short.

    feedparser's address pattern allows top-level domains of 2 to 4 letters:
    "desk@paper.example (Jo Roe)" gives the email "desk@paper.exam" and the
    name "ple (Jo Roe". When `raw` shows the address went on after the email
    feedparser found, the name is `raw` without the address and its brackets.
    """
    name, email = _string(detail.get("name")), _string(detail.get("email"))
    start = raw.find(email) if email else -1
    end = start + len(email)
    if start < 0 or end >= len(raw) or not raw[end].isalnum():
        return name
    return _ADDRESS.sub("", raw).replace("()", "").replace("<>", "").strip(" ()<>")


def _categories(values: Iterable[Any]) -> tuple[str, ...]:
    terms = (_plain(value, False) for value in values if isinstance(value, str))
    return tuple(dict.fromkeys(term for term in terms if term))


# --- times ----------------------------------------------------------------------


def _read_time(raw: str, parsed: datetime | None, what: str) -> tuple[datetime | None, list[str]]:
    """A feed time with a note when it was unreadable or its zone had to be assumed."""
    if not raw.strip():
        return None, []
    if parsed is None:
        return None, [f"{what} {raw.strip()!r} could not be read"]
    note = _zone_note(raw.strip(), what)
    return parsed, [note] if note else []


def _zone_note(raw: str, what: str) -> str | None:
    """Say so when `raw` gave no zone, or one feedparser does not know, so UTC was assumed."""
    match = _TIME_AND_ZONE.search(raw)
    if match is None:
        return f"{what} {raw!r} has no time of day; it was read as 00:00 UTC"
    zone = match["zone"]
    if not zone:
        return f"{what} {raw!r} has no time zone; it was read as UTC"
    name = _ZONE_NAME.match(zone)
    if name is None or name[0].lower() in _KNOWN_ZONES:
        return None
    return f"{what} {raw!r} names a zone feedparser does not know ({name[0]}); it was read as UTC"


def _from_struct(value: Any) -> datetime | None:
    """feedparser's *_parsed value (a UTC struct_time) as an aware datetime."""
    if value is None:
        return None
    year, month, day, hour, minute, second = value[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _from_rfc3339(raw: str) -> datetime | None:
    """A JSON Feed date (RFC 3339); a missing offset is read as UTC, like feedparser does."""
    try:
        parsed = datetime.fromisoformat(raw.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # not a date, or one out of UTC's range
        return None


# --- RSS and Atom, through feedparser -----------------------------------------------


def _read_xml_feed(body: bytes, ctx: ExtractContext) -> _Feed:
    charset = decode(body, ctx.content_type, "xml").charset
    body, cut = _newest_items(body, ctx)
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers={"content-type": _content_type(ctx.content_type, charset.encoding)},
        sanitize_html=False,
        resolve_relative_uris=True,
    )
    problem = _bozo_reason(parsed)
    if not parsed.entries:
        if problem is not None:
            raise ExtractError(f"not a feed: {problem}")
        if not parsed.get("version"):
            raise ExtractError("not a feed: no RSS, RDF or Atom root element")
    notes = (*charset.notes, *cut)
    entries = list(parsed.entries)
    if problem is not None:
        notes += (f"feedparser reported a problem ({problem}); the entries it recovered were used",)
        if _ends_early(parsed):
            cut = entries.pop()
            notes += (
                "the feed ends inside its last entry"
                f" ({_detail_text(cut.get('title_detail')) or 'untitled'!r}),"
                " which was left for a complete copy",
            )
    meta = parsed.feed
    return _Feed(
        title=_detail_text(meta.get("title_detail")) or None,
        authors=_author_names(meta.get("authors", []), _string(dict.get(meta, "author"))),
        items=tuple(_xml_item(entry, ctx.page_url) for entry in entries),
        notes=notes,
    )


# An item's element and its dates, seen in the bytes (see "Entries" in the
# module rules). Tags are matched one at a time and paired in order, so a page
# of unclosed `<item>`s costs one scan, not one per item.
_ITEM_TAG = re.compile(rb"<(/?)(item|entry)(?=[\s/>])[^>]*>")
_ITEM_PUBLISHED = re.compile(rb"<(?:pubDate|published)(?=[\s>])[^>]*>([^<]*)<")
_ITEM_UPDATED = re.compile(rb"<(?:updated|dc:date)(?=[\s>])[^>]*>([^<]*)<")


def _newest_items(body: bytes, ctx: ExtractContext) -> tuple[bytes, tuple[str, ...]]:
    """`body` without the items past the `max_entries` newest, and the note on the cut."""
    spans = _item_spans(body)
    kept, cut = newest(spans, ctx.max_entries, lambda span: _item_time(body, span, ctx))
    if not cut:
        return body, ()
    pieces, start = [], 0
    for span in sorted(set(spans) - set(kept)):
        pieces.append(body[start : span[0]])
        start = span[1]
    pieces.append(body[start:])
    return b"".join(pieces), cut


def _item_spans(body: bytes) -> list[tuple[int, int]]:
    """Where each complete `<item>...</item>` or `<entry>...</entry>` stands."""
    spans: list[tuple[int, int]] = []
    opened: tuple[bytes, int] | None = None
    for tag in _ITEM_TAG.finditer(body):
        closing, name = tag[1], tag[2]
        if not closing and not tag[0].endswith(b"/>"):
            opened = (name, tag.start())
        elif closing and opened is not None and opened[0] == name:
            spans.append((opened[1], tag.end()))
            opened = None
    return spans


def _item_time(body: bytes, span: tuple[int, int], ctx: ExtractContext) -> datetime:
    found = _ITEM_PUBLISHED.search(body, *span) or _ITEM_UPDATED.search(body, *span)
    stated = _from_struct(_parse_date(found[1].decode("latin-1").strip())) if found else None
    return plausible(stated, ctx.fetched_at, "published")[0] if stated else ctx.fetched_at


def _content_type(served: str | None, encoding: str) -> str:
    """The Content-Type feedparser is given: the served media type with the chosen charset.

    feedparser honours the charset of any media type it is given; a feed
    served without one is XML of no particular kind.
    """
    media = (served or "").split(";")[0].strip() or "application/xml"
    return f"{media}; charset={encoding}"


def _ends_early(parsed: Mapping[str, Any]) -> bool:
    """Whether the document stopped before its end (a truncated download).

    The last entry feedparser recovered from such a document is whatever the
    cut left of it: keeping it would record a mangled copy (often under an
    identity of its own, since its id may be what was cut) beside the whole
    entry the next poll brings.
    """
    error = parsed.get("bozo_exception")
    return isinstance(error, xml.sax.SAXParseException) and error.getMessage() in (
        "no element found",
        "unclosed token",
    )


def _bozo_reason(parsed: Mapping[str, Any]) -> str | None:
    if not parsed.get("bozo"):
        return None
    error = parsed.get("bozo_exception")
    if isinstance(error, xml.sax.SAXParseException):
        return f"XML syntax error at line {error.getLineNumber()}: {error.getMessage()}"
    return str(error)


def _xml_item(entry: dict[str, Any], page_url: str) -> _Item:
    published, published_notes = _feed_time(entry, "published")
    updated, updated_notes = _feed_time(entry, "updated")
    link = _xml_link(entry, page_url)
    markup, xml_base = _xml_body(entry)
    tags = entry.get("tags", [])
    return _Item(
        id=_own_id(entry.get("id")),
        link=link,
        title=_detail_text(entry.get("title_detail")),
        html=markup,
        base=urljoin(page_url, xml_base) if xml_base else link or page_url,
        published=published,
        updated=updated,
        authors=_author_names(entry.get("authors", []), _string(dict.get(entry, "author"))),
        categories=_categories(tag.get("term") or tag.get("label") for tag in tags),
        notes=tuple(published_notes + updated_notes),
    )


def _feed_time(entry: dict[str, Any], what: str) -> tuple[datetime | None, list[str]]:
    """`published` or `updated` as stored; dict.get skips the updated-to-published alias."""
    raw, parsed = dict.get(entry, what), dict.get(entry, f"{what}_parsed")
    return _read_time(_string(raw), _from_struct(parsed), what)


def _detail_text(detail: Mapping[str, Any] | None) -> str:
    if not detail:
        return ""
    return _plain(_string(detail.get("value")), detail.get("type") in _HTML_TYPES)


def _xml_link(entry: Mapping[str, Any], page_url: str) -> str | None:
    """The alternate link; a guid feedparser copied into it counts only as an absolute URL."""
    link = _string(entry.get("link"))
    if link == entry.get("id") and not urlsplit(link).scheme:
        return None
    return _absolute(link, page_url)


def _xml_body(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The richest body (html/xhtml content, text content, summary) and the xml:base over it.

    feedparser is given no base URI, so the base is "" unless the feed set one.
    """
    contents = entry.get("content", [])
    candidates = [
        *(detail for detail in contents if detail.get("type") in _HTML_TYPES),
        *(detail for detail in contents if detail.get("type") not in _HTML_TYPES),
        entry.get("summary_detail"),
    ]
    for detail in candidates:
        value = _string(detail.get("value")) if detail else ""
        if value.strip():
            base = _string(detail.get("base"))
            if detail.get("type") in _HTML_TYPES:
                return value, base
            return _paragraphs(value), base
    return "", ""


# --- JSON Feed ------------------------------------------------------------------


def _is_json(body: bytes) -> bool:
    return opening(body).lstrip(" \t\r\n").startswith("{")


def _read_json_feed(body: bytes, ctx: ExtractContext) -> _Feed:
    decoded = decode(body, ctx.content_type, "json")
    notes = list(decoded.notes)
    document = _load_json(decoded.text)
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith(_JSON_FEED_VERSION):
        raise ExtractError(
            f"not a feed: JSON without a JSON Feed version ({_JSON_FEED_VERSION}1.1)"
        )
    items = document.get("items")
    if not isinstance(items, list):
        raise ExtractError("not a feed: the JSON Feed has no list of items")
    objects = [item for item in items if isinstance(item, dict)]
    if len(objects) < len(items):
        notes.append(f"{len(items) - len(objects)} item(s) are not JSON objects and were skipped")
    return _Feed(
        title=_plain(_string(document.get("title")), False) or None,
        authors=_json_authors(document),
        items=tuple(_json_item(item, ctx.page_url) for item in objects),
        notes=tuple(notes),
    )


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ExtractError(
            f"not a feed: JSON syntax error at line {error.lineno}: {error.msg}"
        ) from error


def _json_authors(holder: Mapping[str, Any]) -> tuple[str, ...]:
    """JSON Feed 1.1 `authors`, else the 1.0 `author` object."""
    authors = holder.get("authors")
    if not isinstance(authors, list) or not authors:
        authors = [holder.get("author")]
    return _author_names(author for author in authors if isinstance(author, dict))


def _json_item(item: Mapping[str, Any], page_url: str) -> _Item:
    link = _absolute(_string(item.get("url")), page_url)
    raw_published = _string(item.get("date_published"))
    raw_updated = _string(item.get("date_modified"))
    published, published_notes = _read_time(
        raw_published, _from_rfc3339(raw_published), "published"
    )
    updated, updated_notes = _read_time(raw_updated, _from_rfc3339(raw_updated), "updated")
    tags = item.get("tags")
    return _Item(
        id=_own_id(item.get("id")),
        link=link,
        title=_plain(_string(item.get("title")), False),
        html=_json_body(item),
        base=link or page_url,
        published=published,
        updated=updated,
        authors=_json_authors(item),
        categories=_categories(tags if isinstance(tags, list) else ()),
        notes=tuple(published_notes + updated_notes),
    )


def _json_body(item: Mapping[str, Any]) -> str:
    """content_html, else content_text, else summary (both plain text) as paragraphs."""
    markup = _string(item.get("content_html"))
    if markup.strip():
        return markup
    for field in ("content_text", "summary"):
        text = _string(item.get(field))
        if text.strip():
            return _paragraphs(text)
    return ""
