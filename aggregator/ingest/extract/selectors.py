"""Rule 2 of an HTML live page: the updates the configured selectors pick out.

`ctx.selectors` are CSS selectors: update (required), time, title and body.
Each element matching `update` is one update; if none matches, that is noted
and the other readings apply.

- time: the `datetime` attribute of a `<time>` inside the time selector's
  match (else inside the update). A full date-time is read like JSON-LD
  (zone, bare date, `plausible`); a bare time of day ("23:50"), like the
  `<time>` element's visible text when the attribute is missing or
  unreadable, goes through the text extractor's stamp-line parser and then
  `times.resolve_stamps` with the page's other printed times (configured day,
  midnight crossings, zone labels). An update with no readable time is
  skipped with a page note.
- title: the title selector's text, else the body's first sentence (with a
  note when a title selector found nothing).
- content: the inner HTML of the body selector's match, else of the whole
  update; the time, title and permalink elements are cut out first.
- identity: a permalink, the first http(s) `<a href>` that is rel=bookmark,
  has a "permalink" class or wraps the time, is the link, `id` and `key`;
  otherwise the link is the update's `id` attribute as a fragment of the page
  address.
- the text above the first update is read like a plain-text page's header:
  page title, byline (the updates' author, else the configured one) and a
  lead story when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin

from cssselect import SelectorError
from lxml.cssselect import CSSSelector
from lxml.html import HtmlElement

from aggregator.core.errors import ExtractError
from aggregator.core.model import ExtractContext, normalise_text
from aggregator.ingest.extract.lines import html_lines, page_header
from aggregator.ingest.extract.liveblog_text import parse_stamp_line, title_from_lines
from aggregator.ingest.extract.markup import (
    Draft,
    Reading,
    first_match,
    inner_html,
    matches,
    text_or_none,
    web_url,
)
from aggregator.ingest.extract.sanitize import sanitize_html
from aggregator.ingest.extract.times import (
    Ago,
    Stamp,
    anchor_time,
    future_note,
    page_day,
    parse_time_of_day,
    resolve_stamps,
    stated_time,
    too_far_ahead,
)

_TIME = CSSSelector("time")
_DATED_TIME = CSSSelector("time[datetime]")
_LINK = CSSSelector("a[href]")


@dataclass(frozen=True, slots=True)
class _Selectors:
    update: CSSSelector
    time: CSSSelector | None
    title: CSSSelector | None
    body: CSSSelector | None


@dataclass(frozen=True, slots=True)
class _Selected:
    """One update element read by selectors; a printed time still needs the whole page."""

    title: str | None
    content_html: str
    when: datetime | Stamp | Ago | None
    notes: tuple[str, ...]
    identity: str | None
    link: str | None


def read_selectors(
    root: HtmlElement, ctx: ExtractContext
) -> tuple[Reading | None, tuple[str, ...]]:
    """The updates the configured selectors find, or None (noted when some are configured)."""
    if not ctx.selectors:
        return None, ()
    selectors = _compile(ctx.selectors, ctx)
    updates = matches(selectors.update, root)
    if not updates:
        note = (
            f"the update selector '{ctx.selectors['update']}' matched nothing; "
            "the page was read without it"
        )
        return None, (note,)
    return _from_selectors(root, updates, selectors, ctx), ()


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


def _from_selectors(
    root: HtmlElement,
    updates: Sequence[HtmlElement],
    selectors: _Selectors,
    ctx: ExtractContext,
) -> Reading:
    header = page_header(root, updates[0])
    selected = [_selected_update(update, selectors, ctx) for update in updates]
    drafts, skipped = _dated_drafts(selected, header.author or ctx.author, ctx)
    return Reading("selectors", tuple(drafts), tuple(skipped), header.title, header.author, header)


def _selected_update(update: HtmlElement, selectors: _Selectors, ctx: ExtractContext) -> _Selected:
    """Read one update element; its time, title and permalink are cut out of the tree."""
    time_element = _time_element(update, selectors)
    when, notes = _printed_time(time_element, ctx)
    permalink = _permalink(update, time_element, ctx.page_url)
    _drop(time_element)
    title_element = first_match(selectors.title, update)
    title = text_or_none(title_element.text_content()) if title_element is not None else None
    _drop(title_element)
    _drop(permalink)
    body = first_match(selectors.body, update)
    if selectors.title is not None and title is None:
        notes = (*notes, "the title selector found no title; the first sentence was used")
    if selectors.body is not None and body is None:
        notes = (*notes, "the body selector matched nothing; the whole update was used")
    content = update if body is None else body
    identity = web_url(ctx.page_url, permalink.get("href")) if permalink is not None else None
    anchor = update.get("id")
    return _Selected(
        title=title or title_from_lines(html_lines(content)),
        content_html=sanitize_html(inner_html(content), ctx.page_url).strip(),
        when=when,
        notes=notes,
        identity=identity,
        link=identity or (urljoin(ctx.page_url, f"#{anchor}") if anchor else None),
    )


def _time_element(update: HtmlElement, selectors: _Selectors) -> HtmlElement | None:
    """The time selector's match, else the first dated `<time>`, else the first `<time>`."""
    if selectors.time is not None:
        return first_match(selectors.time, update)
    dated = first_match(_DATED_TIME, update)
    return dated if dated is not None else first_match(_TIME, update)


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
        stated = stated_time(value, "datetime", ctx)
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
    for anchor in matches(_LINK, update):
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
