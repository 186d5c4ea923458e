"""Rule 1 of an HTML live page: the updates its JSON-LD lists.

Every `<script type="application/ld+json">` block is read; HTML-comment and
CDATA wrappers are tolerated, and a block that is not JSON is skipped with a
page note. `LiveBlogPosting` objects are found anywhere: top level, in a list,
inside `@graph`, nested in other objects; `@type` may be a string, a list, or
a schema.org IRI. The first one with a `liveBlogUpdate` (one object or an
array) is read, and any other with updates is noted; one without updates is
noted and the HTML is read instead. Each update must be typed BlogPosting,
NewsArticle or Article (a list of types may include one); others are skipped
with a page note.

- title: `headline`, else the body's first sentence (the text extractor's
  rule), with a note; an update with neither is skipped with a page note.
- content: `articleBody` holding HTML is sanitised; plain text becomes
  paragraphs the way the text extractor renders them.
- published: `datePublished`, ISO 8601 with or without offset or
  milliseconds; a naive time is in the configured zone, a bare date is its
  midnight (with a note). Without a usable one, `dateModified` is used with a
  note; without either, the update is skipped with a page note that names
  it. A later `dateModified` becomes `updated`. Both go through
  `times.plausible`: a time after the fetch is replaced by the fetch time,
  with a note.
- author: `author` as an object, a list or a string, else the
  LiveBlogPosting's, else the configured one.
- identity: `@id`, else `url`, resolved against the page address, is both
  `id` and `key`; `url`, else `@id`, is the link. The page's title and author
  are the LiveBlogPosting's `headline` and `author`.

Every `datePublished` and `dateModified` the JSON-LD states, of any object,
also dates the other readings' printed times (`stated_times`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import lxml.html
from lxml.html import HtmlElement

from aggregator.core.model import ExtractContext
from aggregator.ingest.extract.lines import html_lines
from aggregator.ingest.extract.liveblog_text import normalised_lines, render_lines, title_from_lines
from aggregator.ingest.extract.markup import Draft, Reading, text_or_none, web_url
from aggregator.ingest.extract.sanitize import sanitized
from aggregator.ingest.extract.times import stated_time

_WRAPPER_OPENING = re.compile(r"(?://\s*)?(?:<!--|<!\[CDATA\[)")
_WRAPPER_ENDINGS = ("-->", "]]>")
_UPDATE_TYPES = frozenset({"BlogPosting", "NewsArticle", "Article"})
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")


class _Skip(NamedTuple):
    """An update that cannot be kept, and the page note that says why."""

    note: str


def json_ld_values(root: HtmlElement) -> tuple[list[Any], tuple[str, ...]]:
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
            value = json.loads(_unwrap(script.text or ""))
        except json.JSONDecodeError as error:
            notes.append(
                f"JSON-LD block {number} is not valid JSON ({error.msg} at line {error.lineno}, "
                f"column {error.colno}); it was skipped"
            )
            continue
        except RecursionError:  # nested deeper than the parser itself goes
            value = _TOO_DEEP
        if value is _TOO_DEEP or not _shallow(value):
            notes.append(
                f"JSON-LD block {number} is nested more than {MAX_DEPTH} levels deep; "
                "it was skipped"
            )
            continue
        values.append(value)
    return values, tuple(notes)


# Real JSON-LD nests a handful of levels; a block nested hundreds deep is an
# attack on the readers that walk it (RecursionError took the whole page
# down, its valid blocks with it), so it is skipped with a note.
MAX_DEPTH = 64
_TOO_DEEP = object()


def _shallow(value: Any) -> bool:
    """Whether `value` nests at most `MAX_DEPTH` lists and objects deep (walked
    without recursion, so the check itself cannot overflow)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return False
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return True


def read_json_ld(
    values: Sequence[Any], ctx: ExtractContext
) -> tuple[Reading | None, tuple[str, ...]]:
    """The first LiveBlogPosting's updates, or None; the notes say what was passed over."""
    blog, notes = _live_blog(values)
    if blog is None:
        return None, notes
    reading = _from_json_ld(blog, ctx)
    if not reading.drafts:
        unusable = "no liveBlogUpdate was usable; the HTML was read instead"
        return None, (*notes, *reading.notes, unusable)
    return reading, notes


def stated_times(values: Sequence[Any]) -> list[str]:
    """Every datePublished and dateModified the JSON-LD states: the page's own times."""
    return [
        obj[field]
        for obj in _objects(values)
        for field in ("dateModified", "datePublished")
        if isinstance(obj.get(field), str)
    ]


def _unwrap(text: str) -> str:
    """The block without HTML-comment or CDATA wrappers (also the `//`-commented kind).

    Each pass takes one opening off the front and one ending off the back by
    moving two indices, and nothing is copied until the end, so the work is
    linear in the block's length however many wrappers it has. (Stripping a
    layer at a time with a regex and `strip()` copied and rescanned the whole
    block per layer: a 210 KiB page of nested `<!--` took 156 s.)
    """
    start, end = _trimmed(text, 0, len(text))
    while True:
        opening = _WRAPPER_OPENING.match(text, start, end)
        inner = opening.end() if opening is not None else start
        inner_end = _before_ending(text, inner, end)
        if opening is None and inner_end == end:
            return text[start:end]
        start, end = _trimmed(text, inner, inner_end)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """`start` and `end` moved past white space, as `str.strip` would."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _before_ending(text: str, start: int, end: int) -> int:
    """Where `text[start:end]` ends without its closing `-->` or `]]>` (and a `//` before it)."""
    if end - start < 3 or not text.endswith(_WRAPPER_ENDINGS, start, end):
        return end
    cut = end - 3
    before = cut
    while before > start and text[before - 1].isspace():
        before -= 1
    return before - 2 if before - 2 >= start and text.startswith("//", before - 2) else cut


def _may_be_live_blog(obj: dict[str, Any]) -> bool:
    """A cheap look at `@type` before `_types` reads it properly (most objects are not)."""
    kind = obj.get("@type")
    return kind is not None and (not isinstance(kind, str) or "LiveBlogPosting" in kind)


def _live_blog(values: Sequence[Any]) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
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


def _from_json_ld(blog: dict[str, Any], ctx: ExtractContext) -> Reading:
    blog_author = _names(blog.get("author"))
    drafts: list[Draft] = []
    skipped: list[str] = []
    for number, item in enumerate(_update_items(blog), 1):
        read = _json_ld_update(item, f"liveBlogUpdate {number}", ctx, blog_author or ctx.author)
        if isinstance(read, _Skip):
            skipped.append(read.note)
        else:
            drafts.append(read)
    return Reading(
        "json-ld", tuple(drafts), tuple(skipped), text_or_none(blog.get("headline")), blog_author
    )


def _json_ld_update(
    item: Any, label: str, ctx: ExtractContext, default_author: str | None
) -> Draft | _Skip:
    if not isinstance(item, dict) or not _types(item) & _UPDATE_TYPES:
        kind = item.get("@type") if isinstance(item, dict) else type(item).__name__
        return _Skip(
            f"{label} is not a BlogPosting, NewsArticle or Article ({kind!r}); it was skipped"
        )
    content, lines, body_notes = _article_body(item.get("articleBody"), ctx.page_url)
    headline = text_or_none(item.get("headline"))
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
        notes=(*body_notes, *title_notes, *time_notes),
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
    stated = stated_time(value, field, ctx) if isinstance(value, str) else None
    if stated is None:
        return None, (f"{field} {value!r} is not an ISO 8601 date; it was ignored",)
    return stated


def _article_body(value: Any, base_url: str) -> tuple[str, list[str], tuple[str, ...]]:
    """Sanitised HTML, its text lines and notes: HTML is cleaned, plain text becomes paragraphs."""
    if not isinstance(value, str):
        return "", [], ()
    if _HTML_TAG.search(value):
        cleaned, notes = sanitized(value, base_url)
        content = cleaned.strip()
        lines = html_lines(lxml.html.fragment_fromstring(content, create_parent="div"))
        return content, lines, notes
    lines = [line for line in normalised_lines(value) if line]
    return render_lines(lines), lines, ()


def _names(value: Any) -> str | None:
    """Author names from an object, a string or a list of either, joined by commas."""
    items = value if isinstance(value, list) else [value]
    names = [
        name
        for name in (
            text_or_none(item.get("name") if isinstance(item, dict) else item) for item in items
        )
        if name
    ]
    return ", ".join(names) or None
