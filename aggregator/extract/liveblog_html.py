"""Extract updates from a live blog served as HTML (`format = "liveblog-html"`).

Live pages offer their updates in one of three ways, from most to least
reliable, and this module reads the first one the page has. The meaning of a
live page (stamp lines, titles, the header and lead, identity) is the text
extractor's, reused rather than copied, so every route gives the same entries
for the same page (the tests prove it on the two seeds).

1. JSON-LD. Every `<script type="application/ld+json">` block is read;
   HTML-comment and CDATA wrappers are tolerated, and a block that is not JSON
   is skipped with a page note. `LiveBlogPosting` objects are found anywhere:
   top level, in a list, inside `@graph`, nested in other objects; `@type` may
   be a string, a list, or a schema.org IRI. The first one with a
   `liveBlogUpdate` (one object or an array) is read, and any other with
   updates is noted; one without updates is noted and the HTML is read
   instead. Each update must be typed BlogPosting, NewsArticle or Article (a
   list of types may include one); others are skipped with a page note.
   - title: `headline`, else the body's first sentence (the text extractor's
     rule), with a note; an update with neither is skipped with a page note.
   - content: `articleBody` holding HTML is sanitised; plain text becomes
     paragraphs the way the text extractor renders them.
   - published: `datePublished`, ISO 8601 with or without offset or
     milliseconds; a naive time is in the configured zone, a bare date is
     its midnight (with a note). Without a usable one, `dateModified` is used
     with a note; without either, the update is skipped with a page note that
     names it. A later `dateModified` becomes `updated`. Both go through
     `times.plausible`: a time after the fetch is replaced by the fetch time,
     with a note.
   - author: `author` as an object, a list or a string, else the
     LiveBlogPosting's, else the configured one.
   - identity: `@id`, else `url`, resolved against the page address, is both
     `id` and `key`; `url`, else `@id`, is the link. The page's title and
     author are the LiveBlogPosting's `headline` and `author`.
2. Configured selectors (`ctx.selectors`: update, required; time, title, body),
   for pages without usable JSON-LD. Each element matching `update` is one
   update; if none matches, that is noted and rule 3 applies.
   - time: the `datetime` attribute of a `<time>` inside the time selector's
     match (else inside the update). A full date-time is read like JSON-LD
     (zone, bare date, `plausible`); a bare time of day ("23:50"), like the
     `<time>` element's visible text when the attribute is missing or
     unreadable, goes through the text extractor's stamp-line parser and then
     `times.resolve_stamps` with the page's other printed times (configured
     day, midnight crossings, zone labels). An update with no readable time is
     skipped with a page note.
   - title: the title selector's text, else the body's first sentence (with a
     note when a title selector found nothing).
   - content: the inner HTML of the body selector's match, else of the whole
     update; the time, title and permalink elements are cut out first.
   - identity: a permalink, the first http(s) `<a href>` that is
     rel=bookmark, has a "permalink" class or wraps the time, is the link,
     `id` and `key`; otherwise the link is the update's `id` attribute as a
     fragment of the page address.
   - the text above the first update is read like a plain-text page's header:
     page title, byline (the updates' author, else the configured one) and a
     lead story when there is one.
3. Otherwise the page's main text (`<main>`, else `<body>`) becomes lines and
   the text extractor reads them: block elements end lines, list items become
   bullets, a heading right after a bare stamp line ("3.27pm BST") becomes
   that update's headline, and head, script, style, nav, aside, iframe and
   page-level header and footer (not those inside an article) are dropped.
   Stamp lines include relative labels ("12m ago"), read against the fetch.

Updates without an identity of their own are keyed like text updates: UTC time
to the second plus an ordinal among equal times counted oldest first, so new
updates never shift an old key; a second update with an identity already seen
is skipped with a page note. Entries come out oldest first. All content is
sanitised against the page address: relative links and images become
absolute, and scripts, frames, event handlers and `javascript:` URLs never
reach a feed; links and identities are only ever http(s) addresses. Nothing
is dropped silently: every skipped block or update leaves a page note, and a
page that yields nothing raises `ExtractError` with every reason.

Bytes are read by the one rule every format shares (`decode`): the BOM, else
the Content-Type charset, else a `<meta>` charset, else UTF-8 or, for a page
that declares nothing and is not UTF-8, windows-1252, with a note.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urljoin

import lxml.etree
import lxml.html
from cssselect import SelectorError
from lxml.cssselect import CSSSelector
from lxml.html import HtmlElement

from aggregator.errors import ExtractError, NoUpdates
from aggregator.extract.blocks import read_blocks
from aggregator.extract.decode import decode_as, sniff
from aggregator.extract.liveblog_text import (
    Header,
    extract_text,
    lead,
    normalised_lines,
    parse_stamp_line,
    read_header,
    render_lines,
    time_keys,
    title_from_lines,
    update_link,
)
from aggregator.extract.markup import Draft, inner_html, web_url
from aggregator.extract.microdata import read_microdata
from aggregator.extract.sanitize import sanitize_html, strip_xml_illegal
from aggregator.extract.times import (
    Ago,
    Stamp,
    anchor_time,
    future_note,
    mostly_descending,
    page_day,
    parse_iso,
    parse_time_of_day,
    plausible,
    resolve_stamps,
    too_far_ahead,
)
from aggregator.model import ExtractContext, ExtractedEntry, Page, Strategy, normalise_text

_LD_WRAPPER = re.compile(r"^\s*(?://\s*)?(?:<!--|<!\[CDATA\[)|(?://\s*)?(?:-->|\]\]>)\s*$")
_WRAPPER_OPENINGS = ("<!--", "<![CDATA[", "//")
_WRAPPER_ENDINGS = ("-->", "]]>")
_UPDATE_TYPES = frozenset({"BlogPosting", "NewsArticle", "Article"})
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_WEB_SCHEMES = frozenset({"http", "https"})

_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = _HEADINGS | frozenset(
    [
        "address",
        "article",
        "blockquote",
        "br",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "hr",
        "li",
        "main",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_DROPPED = frozenset(
    [
        "head",
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "aside",
        "iframe",
        "object",
        "svg",
        "button",
    ]
)
_PAGE_CHROME = frozenset({"header", "footer"})
_SPACES = re.compile(r"\s+")

_TIME = CSSSelector("time")
_DATED_TIME = CSSSelector("time[datetime]")
_LINK = CSSSelector("a[href]")
_MAIN = CSSSelector("main, [role=main]")


class _Skip(NamedTuple):
    """An update that cannot be kept, and the page note that says why."""

    note: str


class _Break(NamedTuple):
    """A line break while reading HTML as text; `heading` marks the line it opens."""

    heading: bool


class _Line(NamedTuple):
    text: str
    heading: bool


@dataclass(frozen=True, slots=True)
class _Selectors:
    update: CSSSelector
    time: CSSSelector | None
    title: CSSSelector | None
    body: CSSSelector | None


def extract(body: bytes, ctx: ExtractContext) -> Page:
    """Turn an HTML live page into its updates, oldest first (see the module rules)."""
    root, notes = _tree(body, ctx)
    values, block_notes = _json_ld_blocks(root)
    blog, blog_notes = _live_blog(values)
    notes = (*notes, *block_notes, *blog_notes)
    from_ld = _from_json_ld(blog, ctx) if blog is not None else None
    if from_ld is not None and not from_ld.drafts:
        notes = (*notes, *from_ld.notes, "no liveBlogUpdate was usable; the HTML was read instead")
        from_ld = None
    from_html, html_notes = _from_markup(root, ctx, lambda: _stated_times(values))
    notes = (*notes, *html_notes)
    readings = [reading for reading in (from_ld, from_html) if reading is not None]
    if not readings:
        return _from_text(root, ctx, notes)
    return _page(_merged(*readings) if len(readings) == 2 else readings[0], ctx, notes)


@dataclass(frozen=True, slots=True)
class _Reading:
    """The updates one strategy read from the page, before keys are given."""

    strategy: Strategy
    drafts: tuple[Draft, ...]
    notes: tuple[str, ...]
    title: str | None
    author: str | None
    header: Header | None = None  # the text above the updates, for a lead story


def _page(reading: _Reading, ctx: ExtractContext, notes: tuple[str, ...]) -> Page:
    entries, duplicates = _entries(reading.drafts, ctx.page_url)
    entries = [_legal(entry) for entry in entries]
    page_notes = tuple(map(strip_xml_illegal, (*notes, *reading.notes, *duplicates)))
    _require(entries, ctx, page_notes)
    lead_entry = (
        lead(reading.header, ctx, entries[0].published) if reading.header is not None else None
    )
    return Page(
        entries=(lead_entry, *entries) if lead_entry is not None else tuple(entries),
        title=_legal_text(reading.title),
        author=_legal_text(reading.author),
        notes=page_notes,
        strategy=reading.strategy,
    )


def _legal(entry: ExtractedEntry) -> ExtractedEntry:
    """The entry without characters XML forbids (the tree was parsed as the page came)."""
    return replace(
        entry,
        key=strip_xml_illegal(entry.key),
        title=strip_xml_illegal(entry.title),
        content_html=strip_xml_illegal(entry.content_html),
        link=_legal_text(entry.link),
        author=_legal_text(entry.author),
        notes=tuple(map(strip_xml_illegal, entry.notes)),
        id=_legal_text(entry.id),
    )


def _legal_text(text: str | None) -> str | None:
    return strip_xml_illegal(text) if text is not None else None


def _from_markup(
    root: HtmlElement, ctx: ExtractContext, stated_times: Callable[[], Sequence[str]]
) -> tuple[_Reading | None, tuple[str, ...]]:
    """The first HTML reading that finds updates: configured selectors, microdata, blocks."""
    notes: tuple[str, ...] = ()
    if ctx.selectors:
        selectors = _compile(ctx.selectors, ctx)
        updates = _matches(selectors.update, root)
        if updates:
            return _from_selectors(root, updates, selectors, ctx), notes
        notes = (
            f"the update selector '{ctx.selectors['update']}' matched nothing; "
            "the page was read without it",
        )
    found = read_microdata(root, ctx)
    if found is None:
        found = read_blocks(root, ctx, stated_times)
        strategy: Strategy = "generic"
    else:
        strategy = "microdata"
    if found is None:
        return None, notes
    header = read_header(_html_lines(_scope(root, found.first), stop=found.first))
    default_author = header.author or ctx.author
    drafts = tuple(replace(draft, author=draft.author or default_author) for draft in found.blocks)
    return _Reading(
        strategy, drafts, found.notes, header.title or _page_title(root), header.author
    ), notes


def _page_title(root: HtmlElement) -> str | None:
    for element in (*root.iter("h1"), *root.iter("title")):
        text = normalise_text(element.text_content())
        if text:
            return text
    return None


def _stated_times(values: Sequence[Any]) -> list[str]:
    """Every datePublished and dateModified the JSON-LD states: the page's own times."""
    return [
        obj[field]
        for obj in _objects(values)
        for field in ("dateModified", "datePublished")
        if isinstance(obj.get(field), str)
    ]


def _merged(primary: _Reading, secondary: _Reading) -> _Reading:
    """JSON-LD and the page's own blocks, merged by identity, never doubled.

    An update of the HTML matches a JSON-LD one by identity, else by the
    opening of its text, else by a title no other update has. The blocks are
    the same live blog only when at least half of them, or three, match;
    otherwise they are something else the page lists and are left out. A
    match keeps the JSON-LD update, with the time the page *shows* in its
    markup (`<time datetime>`, say) when the two disagree: JSON-LD often
    states when a scheduled post was written. Blocks the JSON-LD leaves out
    (it lists only the newest, say) are added.
    """
    by_identity = {draft.identity: draft for draft in primary.drafts if draft.identity}
    texts = [(_letters(draft.content_html), draft) for draft in primary.drafts]
    titles = Counter(normalise_text(draft.title).lower() for draft in primary.drafts)
    by_title = {normalise_text(draft.title).lower(): draft for draft in primary.drafts}
    matches: list[tuple[Draft, Draft]] = []
    unmatched: list[Draft] = []
    for block in secondary.drafts:
        title = normalise_text(block.title).lower()
        letters = _letters(block.content_html)
        match = (
            by_identity.get(block.identity or "")
            or next((draft for text, draft in texts if _same_text(text, letters)), None)
            or (by_title.get(title) if titles[title] == 1 else None)
        )
        if match is None:
            unmatched.append(block)
        else:
            matches.append((block, match))
    if len(matches) * 2 < len(secondary.drafts) and len(matches) < _SAME_BLOG:
        note = (
            f"the page's {len(secondary.drafts)} timestamped blocks share only {len(matches)} "
            "update(s) with its JSON-LD; they were left out"
        )
        return replace(primary, notes=(*primary.notes, note))
    replaced: dict[int, Draft] = {}
    for block, match in matches:
        shown = _shown_time(block)
        if shown is not None and _minute(shown) != _minute(match.published):
            note = (
                f"JSON-LD states {match.published:%Y-%m-%dT%H:%MZ}, the page shows "
                f"{shown:%Y-%m-%dT%H:%MZ}; the time shown was used"
            )
            replaced[id(match)] = replace(match, published=shown, notes=(*match.notes, note))
    drafts = tuple(replaced.get(id(draft), draft) for draft in primary.drafts)
    notes = primary.notes
    if unmatched:
        notes = (*notes, f"{len(unmatched)} update(s) on the page are not in its JSON-LD; added")
    return replace(primary, drafts=(*drafts, *unmatched), notes=notes)


_SAME_BLOG = 3


def _shown_time(block: Draft) -> datetime | None:
    """The time a block states in its markup (see `_merged`), if it states one.

    A printed time of day is not used: it rests on the configured zone and a
    day worked out from the page, where the JSON-LD states the instant.
    """
    return block.published if block.basis == "stated" else None


_FINGERPRINT = 40


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


_FINGERPRINT_WINDOW = 400


def _letters(content_html: str) -> str:
    """The opening letters and digits of an update's text, to recognise it in two readings."""
    if not content_html:
        return ""
    text = lxml.html.fragment_fromstring(content_html, create_parent="div").text_content()
    letters = "".join(char for char in text[: _FINGERPRINT_WINDOW * 2].lower() if char.isalnum())
    return letters[:_FINGERPRINT_WINDOW]


def _same_text(one: str, other: str) -> bool:
    """Whether one text's opening stands near the start of the other (a heading may lead)."""
    if len(one) < _FINGERPRINT or len(other) < _FINGERPRINT:
        return False
    return one[:_FINGERPRINT] in other or other[:_FINGERPRINT] in one


# --- bytes to a tree -------------------------------------------------------------


def _tree(body: bytes, ctx: ExtractContext) -> tuple[HtmlElement, tuple[str, ...]]:
    """The page's tree, and notes on how its bytes were read.

    A page that is (or says it is) UTF-8 goes to libxml2 as it came: libxml2
    decodes it while parsing and reports bytes that are not UTF-8, so only such
    a page, or one in another charset, is decoded in Python first (`decode`).
    On the 779 KB NYT page this saves decoding, re-encoding and scanning the
    text (about 4 of 9.4 ms). Characters XML forbids are removed from what the
    page yields, in `_legal`, instead of from the whole document.
    """
    charset = sniff(body, ctx.content_type, "html")
    if charset.encoding == "utf-8":
        parsed = _parse_utf8(body[charset.bom :], ctx)
        if parsed is not None:
            return parsed, charset.notes
    decoded = decode_as(body, charset)
    return _parse(strip_xml_illegal(decoded.text).encode("utf-8"), ctx), decoded.notes


def _parse_utf8(data: bytes, ctx: ExtractContext) -> HtmlElement | None:
    """The tree of UTF-8 bytes, or None if libxml2 met bytes that are not UTF-8."""
    parser = lxml.html.HTMLParser(encoding="utf-8")  # one per page: its error log is its own
    root = _parse(data, ctx, parser)
    if any(error.type_name == "ERR_INVALID_ENCODING" for error in parser.error_log):
        return None
    return root


def _parse(
    data: bytes, ctx: ExtractContext, parser: lxml.html.HTMLParser | None = None
) -> HtmlElement:
    try:
        return lxml.html.document_fromstring(
            data, parser=parser or lxml.html.HTMLParser(encoding="utf-8")
        )
    except lxml.etree.ParserError as error:
        raise ExtractError(f"{ctx.source}: {ctx.page_url} holds no HTML ({error})") from error


# --- rule 1: JSON-LD ---------------------------------------------------------------


def _json_ld_blocks(root: HtmlElement) -> tuple[list[Any], tuple[str, ...]]:
    """The parsed value of every JSON-LD block, and a note for each one skipped."""
    values: list[Any] = []
    notes: list[str] = []
    scripts = [
        script
        for script in root.iter("script")
        if (script.get("type") or "").split(";")[0].strip().lower() == "application/ld+json"
    ]
    for number, script in enumerate(scripts, 1):
        try:
            values.append(json.loads(_unwrap(script.text or "")))
        except json.JSONDecodeError as error:
            notes.append(
                f"JSON-LD block {number} is not valid JSON ({error.msg} at line {error.lineno}, "
                f"column {error.colno}); it was skipped"
            )
    return values, tuple(notes)


def _unwrap(text: str) -> str:
    """The block without HTML-comment or CDATA wrappers (also the `//`-commented kind)."""
    text = text.strip()
    # Most blocks have no wrapper: the scan is skipped (0.85 ms on the NYT page).
    while text.startswith(_WRAPPER_OPENINGS) or text.endswith(_WRAPPER_ENDINGS):
        unwrapped = _LD_WRAPPER.sub("", text).strip()
        if unwrapped == text:
            break
        text = unwrapped
    return text


def _may_be_live_blog(obj: dict[str, Any]) -> bool:
    """A cheap look at `@type` before `_types` reads it properly (most objects are not)."""
    kind = obj.get("@type")
    return kind is not None and (not isinstance(kind, str) or "LiveBlogPosting" in kind)


def _live_blog(values: list[Any]) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The first LiveBlogPosting that lists updates, and notes on any others."""
    blogs = [
        obj
        for obj in _objects(values)
        if _may_be_live_blog(obj) and "LiveBlogPosting" in _types(obj)
    ]
    with_updates = [blog for blog in blogs if _update_items(blog)]
    if not with_updates:
        note = "a LiveBlogPosting was found but lists no liveBlogUpdate; the HTML was read instead"
        return None, (note,) if blogs else ()
    ignored = len(with_updates) - 1
    notes = (
        (f"{ignored} more LiveBlogPosting object(s) with updates were ignored; the first was read",)
        if ignored
        else ()
    )
    return with_updates[0], notes


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in `value`, outermost first, in document order.

    A stack rather than nested generators: a page's JSON-LD can hold thousands
    of values, and each `yield from` level costs a frame per value.
    """
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(
                child for child in reversed(item.values()) if isinstance(child, dict | list)
            )
        elif isinstance(item, list):
            stack.extend(child for child in reversed(item) if isinstance(child, dict | list))


def _types(obj: dict[str, Any]) -> frozenset[str]:
    """The object's @type names, without any "https://schema.org/" or "schema:" prefix."""
    raw = obj.get("@type")
    names = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return frozenset(
        name.rsplit("/", 1)[-1].rsplit(":", 1)[-1] for name in names if isinstance(name, str)
    )


def _update_items(blog: dict[str, Any]) -> list[Any]:
    items = blog.get("liveBlogUpdate")
    if items is None:
        return []
    return items if isinstance(items, list) else [items]


def _from_json_ld(blog: dict[str, Any], ctx: ExtractContext) -> _Reading:
    blog_author = _names(blog.get("author"))
    drafts: list[Draft] = []
    skipped: list[str] = []
    for number, item in enumerate(_update_items(blog), 1):
        read = _json_ld_update(item, f"liveBlogUpdate {number}", ctx, blog_author or ctx.author)
        if isinstance(read, _Skip):
            skipped.append(read.note)
        else:
            drafts.append(read)
    return _Reading(
        "json-ld", tuple(drafts), tuple(skipped), _text(blog.get("headline")), blog_author
    )


def _json_ld_update(
    item: Any, label: str, ctx: ExtractContext, default_author: str | None
) -> Draft | _Skip:
    if not isinstance(item, dict) or not _types(item) & _UPDATE_TYPES:
        kind = item.get("@type") if isinstance(item, dict) else type(item).__name__
        return _Skip(
            f"{label} is not a BlogPosting, NewsArticle or Article ({kind!r}); it was skipped"
        )
    content, lines = _article_body(item.get("articleBody"), ctx.page_url)
    headline = _text(item.get("headline"))
    title = headline or title_from_lines(lines)
    if title is None:
        return _Skip(f"{label} has neither a headline nor any text; it was skipped")
    times = _json_ld_times(item, ctx, f"{label} ('{title}')")
    if isinstance(times, _Skip):
        return times
    published, updated, time_notes = times
    title_notes = () if headline else ("no headline; the title is the body's first sentence",)
    url = web_url(ctx.page_url, item.get("url"))
    identity = web_url(ctx.page_url, item.get("@id")) or url
    return Draft(
        title=title,
        content_html=content,
        published=published,
        updated=updated,
        author=_names(item.get("author")) or default_author,
        notes=(*title_notes, *time_notes),
        identity=identity,
        link=url or identity,
    )


def _json_ld_times(
    item: dict[str, Any], ctx: ExtractContext, named: str
) -> tuple[datetime, datetime | None, tuple[str, ...]] | _Skip:
    """Publication time, later modification time and notes; a skip if there is no date."""
    published, published_notes = _json_ld_date(item, "datePublished", ctx)
    modified, modified_notes = _json_ld_date(item, "dateModified", ctx)
    notes = (*published_notes, *modified_notes)
    if published is not None:
        later = modified if modified is not None and modified > published else None
        return published, later, notes
    if modified is None:
        reasons = f" ({'; '.join(notes)})" if notes else ""
        return _Skip(
            f"{named} has no usable datePublished or dateModified{reasons}; it was skipped"
        )
    return modified, None, (*notes, "no datePublished; dateModified was used as its time")


def _json_ld_date(
    item: dict[str, Any], field: str, ctx: ExtractContext
) -> tuple[datetime | None, tuple[str, ...]]:
    value = item.get(field)
    if value is None:
        return None, ()
    stated = _stated_time(value, field, ctx) if isinstance(value, str) else None
    if stated is None:
        return None, (f"{field} {value!r} is not an ISO 8601 date; it was ignored",)
    return stated


def _stated_time(
    value: str, what: str, ctx: ExtractContext
) -> tuple[datetime, tuple[str, ...]] | None:
    """A full date (and time) the page states, checked against the fetch time."""
    parsed = parse_iso(value, ctx.timezone, what)
    if parsed is None:
        return None
    instant, notes = parsed
    checked, rejected = plausible(instant, ctx.fetched_at, what)
    return checked, (*notes, *((rejected,) if rejected else ()))


def _article_body(value: Any, base_url: str) -> tuple[str, list[str]]:
    """Sanitised HTML and its text lines: HTML is cleaned, plain text becomes paragraphs."""
    if not isinstance(value, str):
        return "", []
    if _HTML_TAG.search(value):
        content = sanitize_html(value, base_url).strip()
        return content, _html_lines(lxml.html.fragment_fromstring(content, create_parent="div"))
    lines = [line for line in normalised_lines(value) if line]
    return render_lines(lines), lines


def _names(value: Any) -> str | None:
    """Author names from an object, a string or a list of either, joined by commas."""
    items = value if isinstance(value, list) else [value]
    names = [
        name
        for name in (_text(item.get("name") if isinstance(item, dict) else item) for item in items)
        if name
    ]
    return ", ".join(names) or None


def _text(value: Any) -> str | None:
    return (normalise_text(value) or None) if isinstance(value, str) else None


# --- keys, order and the end of every structured path -------------------------------


def _entries(drafts: Sequence[Draft], page_url: str) -> tuple[list[ExtractedEntry], list[str]]:
    """Entries oldest first, keyed by identity or by time and ordinal; repeats skipped."""
    newest_first = mostly_descending([draft.published.timestamp() for draft in drafts])
    in_time = sorted(reversed(drafts) if newest_first else drafts, key=lambda d: d.published)
    fallback = iter(time_keys(draft.published for draft in in_time if draft.identity is None))
    entries: list[ExtractedEntry] = []
    notes: list[str] = []
    seen: set[str] = set()
    for draft in in_time:
        key = draft.identity or next(fallback)
        if key in seen:
            notes.append(f"the update '{draft.title}' repeats the identity {key}; it was skipped")
            continue
        seen.add(key)
        entries.append(
            ExtractedEntry(
                key=key,
                title=draft.title,
                content_html=draft.content_html,
                published=draft.published,
                updated=draft.updated,
                link=draft.link or update_link(page_url, key),
                author=draft.author,
                notes=draft.notes,
                id=draft.identity,
            )
        )
    return entries, notes


def _require(entries: Sequence[ExtractedEntry], ctx: ExtractContext, notes: Sequence[str]) -> None:
    if not entries:
        details = "".join(f"; {note}" for note in notes)
        raise NoUpdates(f"{ctx.source}: no usable update in {ctx.page_url}{details}")


# --- rule 2: configured selectors ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Selected:
    """One update element read by selectors; a printed time still needs the whole page."""

    title: str | None
    content_html: str
    when: datetime | Stamp | Ago | None
    notes: tuple[str, ...]
    identity: str | None
    link: str | None


def _compile(selectors: Mapping[str, str], ctx: ExtractContext) -> _Selectors:
    if not selectors.get("update"):
        raise ExtractError(f"{ctx.source}: selectors are configured but 'update' is missing")
    compiled: dict[str, CSSSelector] = {}
    for name, expression in selectors.items():
        try:
            compiled[name] = CSSSelector(expression, translator="html")
        except SelectorError as error:
            raise ExtractError(
                f"{ctx.source}: selector {name} = '{expression}' is not valid CSS ({error})"
            ) from error
    return _Selectors(
        compiled["update"], compiled.get("time"), compiled.get("title"), compiled.get("body")
    )


def _matches(selector: CSSSelector, element: HtmlElement) -> list[HtmlElement]:
    """Elements matching `selector` inside `element` (never `element` itself)."""
    return [match for match in selector(element) if match is not element]


def _first(selector: CSSSelector | None, element: HtmlElement) -> HtmlElement | None:
    matches = _matches(selector, element) if selector is not None else []
    return matches[0] if matches else None


def _from_selectors(
    root: HtmlElement,
    updates: Sequence[HtmlElement],
    selectors: _Selectors,
    ctx: ExtractContext,
) -> _Reading:
    header = read_header(_html_lines(_scope(root, updates[0]), stop=updates[0]))
    selected = [_selected_update(update, selectors, ctx) for update in updates]
    drafts, skipped = _dated_drafts(selected, header.author or ctx.author, ctx)
    return _Reading("selectors", tuple(drafts), tuple(skipped), header.title, header.author, header)


def _scope(root: HtmlElement, first_update: HtmlElement) -> HtmlElement:
    """Where the page's header text is: the main element if it holds the updates."""
    main = _main(root)
    inside = any(ancestor is main for ancestor in first_update.iterancestors())
    return main if inside else _body(root)


def _selected_update(update: HtmlElement, selectors: _Selectors, ctx: ExtractContext) -> _Selected:
    """Read one update element; its time, title and permalink are cut out of the tree."""
    time_element = _time_element(update, selectors)
    when, notes = _printed_time(time_element, ctx)
    permalink = _permalink(update, time_element, ctx.page_url)
    _drop(time_element)
    title_element = _first(selectors.title, update)
    title = _text(title_element.text_content()) if title_element is not None else None
    _drop(title_element)
    _drop(permalink)
    body = _first(selectors.body, update)
    if selectors.title is not None and title is None:
        notes = (*notes, "the title selector found no title; the first sentence was used")
    if selectors.body is not None and body is None:
        notes = (*notes, "the body selector matched nothing; the whole update was used")
    content = update if body is None else body
    identity = web_url(ctx.page_url, permalink.get("href")) if permalink is not None else None
    anchor = update.get("id")
    return _Selected(
        title=title or title_from_lines(_html_lines(content)),
        content_html=sanitize_html(inner_html(content), ctx.page_url).strip(),
        when=when,
        notes=notes,
        identity=identity,
        link=identity or (urljoin(ctx.page_url, f"#{anchor}") if anchor else None),
    )


def _time_element(update: HtmlElement, selectors: _Selectors) -> HtmlElement | None:
    """The time selector's match, else the first dated `<time>`, else the first `<time>`."""
    if selectors.time is not None:
        return _first(selectors.time, update)
    dated = _first(_DATED_TIME, update)
    return dated if dated is not None else _first(_TIME, update)


def _printed_time(
    element: HtmlElement | None, ctx: ExtractContext
) -> tuple[datetime | Stamp | Ago | None, tuple[str, ...]]:
    """A `datetime` attribute if it reads, else the visible time as a stamp line.

    The visible text is the `<time>` element's own (the dated one, else the
    first), so an author name beside it in the time selector's match is ignored.
    """
    if element is None:
        return None, ()
    dated = _first_or_self(_DATED_TIME, element)
    notes: tuple[str, ...] = ()
    if dated is not None:
        value = dated.get("datetime")
        clock = parse_time_of_day(value)
        if clock is not None:
            return clock, ()
        stated = _stated_time(value, "datetime", ctx)
        if stated is not None:
            return stated
        notes = (f"datetime '{value}' is not an ISO 8601 time; the visible text was read",)
    shown = dated if dated is not None else _first_or_self(_TIME, element)
    text = (shown if shown is not None else element).text_content()
    line = parse_stamp_line(normalise_text(text), alone=True)
    return (line.stamp if line is not None else None), notes


def _first_or_self(selector: CSSSelector, element: HtmlElement) -> HtmlElement | None:
    """`element` if it matches `selector`, else its first matching descendant."""
    matches = selector(element)
    return matches[0] if matches else None


def _permalink(
    update: HtmlElement, time_element: HtmlElement | None, page_url: str
) -> HtmlElement | None:
    """The first http(s) `<a href>` marked rel=bookmark or "permalink", or wrapping the time."""
    for anchor in _matches(_LINK, update):
        wraps_time = time_element is not None and any(
            ancestor is anchor for ancestor in time_element.iterancestors()
        )
        marked = (
            "bookmark" in (anchor.get("rel") or "").lower().split()
            or "permalink" in (anchor.get("class") or "").lower()
            or wraps_time
        )
        if marked and web_url(page_url, anchor.get("href")) is not None:
            return anchor
    return None


def _drop(element: HtmlElement | None) -> None:
    """Remove an element (keeping the text after it) if it is still in a tree."""
    if element is not None and element.getparent() is not None:
        element.drop_tree()


def _dated_drafts(
    selected: Sequence[_Selected], author: str | None, ctx: ExtractContext
) -> tuple[list[Draft], list[str]]:
    """Resolve the printed times together (page order, midnight) and skip what cannot be kept."""
    printed = [item.when for item in selected if isinstance(item.when, Stamp | Ago)]
    resolved = resolve_stamps(printed, ctx.timezone, page_day(ctx), anchor_time(ctx))
    walked = iter(zip(resolved.instants, resolved.notes, strict=True))
    anchor = anchor_time(ctx)
    drafts: list[Draft] = []
    skipped: list[str] = []
    for number, item in enumerate(selected, 1):
        time_notes: tuple[str, ...]
        if isinstance(item.when, datetime):
            published, time_notes = item.when, ()
        elif item.when is not None:
            published, time_notes = next(walked)
            if too_far_ahead(published, anchor):
                skipped.append(future_note(f"update {number}", published, anchor))
                continue
        else:
            skipped.append(_skip_note(number, item, "has no time that could be read"))
            continue
        if item.title is None:
            skipped.append(_skip_note(number, item, "has neither a title nor any text"))
            continue
        drafts.append(
            Draft(
                title=item.title,
                content_html=item.content_html,
                published=published,
                updated=None,
                author=author,
                notes=(*time_notes, *item.notes),
                identity=item.identity,
                link=item.link,
            )
        )
    return drafts, skipped


def _skip_note(number: int, item: _Selected, reason: str) -> str:
    return f"update {number} ('{item.title or 'untitled'}') {reason}; it was skipped"


# --- rule 3: the page as text ------------------------------------------------------------


def _from_text(root: HtmlElement, ctx: ExtractContext, notes: tuple[str, ...]) -> Page:
    notes = tuple(map(strip_xml_illegal, notes))
    try:
        page = extract_text("\n".join(_html_lines(_main(root))), ctx, notes)
    except ExtractError as error:
        reasons = (NOTHING_FOUND, str(error), *notes)
        raise NoUpdates("; ".join(reasons)) from error
    return replace(page, strategy="text")


NOTHING_FOUND = (
    "no updates found: no JSON-LD live blog, no microdata, no repeated timestamped blocks, "
    "no printed stamps"
)


def _body(root: HtmlElement) -> HtmlElement:
    body = root.find("body")
    return body if body is not None else root


def _main(root: HtmlElement) -> HtmlElement:
    main = _first(_MAIN, root)
    return main if main is not None else _body(root)


def _html_lines(element: HtmlElement, stop: HtmlElement | None = None) -> list[str]:
    """The element's text as lines, up to `stop` if given (see the module rules)."""
    return _with_headlines(_fold(_tokens(element, stop)))


def _tokens(element: HtmlElement, stop: HtmlElement | None) -> Generator[str | _Break, None, bool]:
    """Text and line breaks in reading order; returns True once `stop` is reached."""
    if element is stop:
        return True
    if not isinstance(element.tag, str) or _dropped(element):
        return False
    block = element.tag in _BLOCKS
    if block:
        yield _Break(heading=element.tag in _HEADINGS)
    if element.tag == "li":
        yield "\u2022 "
    if element.text:
        yield element.text
    for child in element:
        if (yield from _tokens(child, stop)):
            return True
        if child.tail:
            yield child.tail
    if block:
        yield _Break(heading=False)
    return False


def _dropped(element: HtmlElement) -> bool:
    """Code, navigation and page chrome; a header or footer inside an article is content."""
    if element.tag in _DROPPED:
        return True
    return element.tag in _PAGE_CHROME and not any(
        ancestor.tag == "article" for ancestor in element.iterancestors()
    )


def _fold(tokens: Iterable[str | _Break]) -> list[_Line]:
    """Join text between breaks into lines with white space folded; empty lines vanish."""
    lines: list[_Line] = []
    parts: list[str] = []
    heading = False
    for token in (*tokens, _Break(heading=False)):
        if isinstance(token, _Break):
            text = _SPACES.sub(" ", "".join(parts)).strip()
            if text:
                lines.append(_Line(text, heading))
            parts, heading = [], token.heading
        else:
            parts.append(token)
    return lines


def _with_headlines(lines: Sequence[_Line]) -> list[str]:
    """Join a heading to the bare stamp line just above it ("3.27pm BST" + "Headline")."""
    texts: list[str] = []
    bare_stamp_above = False
    for line in lines:
        if line.heading and bare_stamp_above:
            texts[-1] = f"{texts[-1]} \u2013 {line.text}"
            bare_stamp_above = False
            continue
        texts.append(line.text)
        stamp_line = parse_stamp_line(line.text)
        bare_stamp_above = stamp_line is not None and stamp_line.headline is None
    return texts
