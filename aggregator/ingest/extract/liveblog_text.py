"""Extract updates from a live blog saved or served as plain text.

Many live pages reduce, once the markup is gone, to the same shape: a header
(title, byline, key points, sometimes a whole lead story) followed by updates,
each opened by a line carrying a time of day ("19:50 GMT - Headline",
"Update 2:52pm EST", a bare "3.27pm BST") or a relative label ("12m ago",
"just now"). This module finds those lines, splits the page at them and turns
each piece into an `ExtractedEntry`. A bare time is a stamp line only with a
meridiem or zone label, so a stray "10.30" in prose never splits an update.

The HTML extractor reuses the pieces that define what a live page means (the
stamp-line parser, the header and lead rules, the first-sentence title, the
identity rule and the paragraph rendering), so both formats agree by
construction rather than by copy.

Identity is the point of care: an update's key is its UTC time plus an ordinal
among updates sharing that time, counted oldest first, so neither edits nor new
updates added on top of the page ever change an existing key. Times come from
`times`; the lead story, which the page never dates, takes its time from
configuration and never from the fetch, so re-polling cannot move it.

Bytes are read by the rule every format shares (`decode`), so a page in a
legacy charset reads the same as text as it does as HTML.

Editors' hand-over notes ("Hello, this is … taking over …") are not news: they
are kept out of every body and used only to credit the updates around them.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time

from aggregator.core.errors import NoUpdates
from aggregator.core.model import ExtractContext, ExtractedEntry, Page
from aggregator.ingest.extract.decode import decode
from aggregator.ingest.extract.sanitize import strip_xml_illegal
from aggregator.ingest.extract.times import (
    RELATIVE_LABEL,
    Ago,
    ResolvedTimes,
    Stamp,
    anchor_time,
    future_note,
    hour_of_day,
    page_day,
    parse_relative,
    resolve_stamps,
    too_far_ahead,
)
from aggregator.ingest.extract.titles import first_sentence_title

_MIN_ARTICLE_PARAGRAPHS = 3

_DASH = r"[-\u2013\u2014]"
# Narrower than the generic reading's grammar (`stamps.printed_stamp`) on purpose: a whole
# line that is a stamp, perhaps with a dashed headline, in the forms text pages print. The
# other accepts more ("9h05 -", "14.05 Uhr", "10 p.m.", a bare "23:48", any separator),
# which would split a text page's prose; only the reading of the hour is shared.
_STAMP_LINE = re.compile(
    r"^(?:(?P<update>(?i:updated?):?)\s+(?:at\s+)?)?"
    r"(?:(?P<hour>\d{1,2})[:.](?P<minute>[0-5]\d)"
    r"(?:\s*(?P<meridiem>[AaPp])\.?\s?[Mm]\.?)?"
    r"(?:\s*(?P<zone>[A-Z]{2,5})\b)?"
    rf"|(?P<relative>{RELATIVE_LABEL}))"
    rf"(?:\s*{_DASH}\s*(?P<headline>\S.*))?$"
)

_NAME = r"[A-Z][\w'\u2019-]+(?: [A-Z][\w'\u2019-]+){0,3}"
_GREETING = re.compile(r"^(?:Hello|Hi|Good (?:morning|afternoon|evening))\b")
_INTRODUCTION = re.compile(rf"\b(?:[Tt]his is|I[\u2019']m|I am) (?P<name>{_NAME})")
_TAKING_OVER = re.compile(
    rf"\btaking over\b(?:.*?\bfrom (?:my )?(?:colleagues? )?(?P<name>{_NAME}))?"
)

_BYLINE = re.compile(
    r"^(?:[\u2022*]\s*)?(?:By\s+)?(?P<name>[A-Z][\w.'\u2019-]*(?:\s+[A-Z][\w.'\u2019-]*){0,4})"
    r"\s*\|\s*\S"
)
_BULLET = re.compile(r"^[\u2022*]\s+(?P<text>\S.*)$")
_CREDIT_WORD = r"(?:[A-Z][\w.&'\u2019-]*|via|of|and|the|for)"
_CAPTION = re.compile(rf"^.*\S\s*\[(?:[A-Z][a-z]+:\s*)?{_CREDIT_WORD}(?:[\s/,]+{_CREDIT_WORD})*\]$")
_SPACES = re.compile(r"[^\S\n]+")


@dataclass(frozen=True, slots=True)
class StampLine:
    """A line that opens an update: its printed time, headline (if any) and text."""

    stamp: Stamp | Ago
    headline: str | None
    text: str


@dataclass(frozen=True, slots=True)
class _Handover:
    editor: str
    previous: str | None


@dataclass(frozen=True, slots=True)
class _Section:
    """One update as printed: its stamp line and the lines below it."""

    stamp_line: StampLine
    lines: tuple[str, ...]
    handovers: tuple[_Handover, ...]


@dataclass(frozen=True, slots=True)
class Header:
    """What the lines above the first update say: title, byline and lead-story lines."""

    title: str | None
    author: str | None
    lines: tuple[str, ...]
    is_article: bool


def extract(body: bytes, ctx: ExtractContext) -> Page:
    """Turn a plain-text live page into its lead story (if any) and updates, oldest first."""
    decoded = decode(body, ctx.content_type, "text")
    return extract_text(decoded.text, ctx, decoded.notes)


def extract_text(text: str, ctx: ExtractContext, notes: tuple[str, ...] = ()) -> Page:
    """Extract from already decoded text; `notes` are page notes gathered before."""
    header_lines, sections = _split(normalised_lines(text))
    header = read_header(header_lines)
    if not sections:
        return _lead_only(header, ctx, notes)
    times = resolve_stamps(
        [section.stamp_line.stamp for section in sections],
        ctx.timezone,
        page_day(ctx),
        anchor_time(ctx),
    )
    editors = _editors(_handovers(header_lines), sections, times.newest_first)
    drafted = _updates(sections, times, editors, header.author or ctx.author, ctx)
    anchor = anchor_time(ctx)
    updates: list[ExtractedEntry] = []
    for update in drafted:
        if too_far_ahead(update.published, anchor):
            notes += (future_note(f"update {update.title!r}", update.published, anchor),)
        else:
            updates.append(update)
    if not updates:
        raise NoUpdates(f"{ctx.source}: every update on {ctx.page_url} is dated in the future")
    lead_entry = lead(header, ctx, updates[0].published)
    entries = (lead_entry, *updates) if lead_entry is not None else tuple(updates)
    return Page(entries=entries, title=header.title, author=header.author, notes=notes)


def _lead_only(header: Header, ctx: ExtractContext, notes: tuple[str, ...]) -> Page:
    """A live page that has opened with its lead story and no update yet.

    That is how live blogs begin, so it is news when configuration dates the
    lead (`date` or a start time). Anything else without a single stamp line
    is more likely the wrong page or the wrong format, and says so.
    """
    entry = lead(header, ctx, None)
    if entry is None:
        raise NoUpdates(
            f"{ctx.source}: no timestamped update line (like '19:50 GMT - Headline' or "
            f"'Update 2:52pm EST') found in {ctx.page_url}"
        )
    note = "the page has its lead story but no timestamped update yet"
    return Page(entries=(entry,), title=header.title, author=header.author, notes=(*notes, note))


def normalised_lines(text: str) -> list[str]:
    """Lines with every run of spaces (NBSP included) folded to one space, trimmed."""
    return [_SPACES.sub(" ", line).strip() for line in strip_xml_illegal(text).splitlines()]


def _split(lines: Sequence[str]) -> tuple[list[str], list[_Section]]:
    """Cut the page at its stamp lines: header lines first, then one section per update."""
    header: list[str] = []
    sections: list[_Section] = []
    current: tuple[StampLine, list[str]] | None = None
    for line in (line for line in lines if line):
        stamp_line = parse_stamp_line(line)
        if stamp_line is not None:
            if current is not None:
                sections.append(_section(*current))
            current = (stamp_line, [])
        elif current is not None:
            current[1].append(line)
        else:
            header.append(line)
    if current is not None:
        sections.append(_section(*current))
    return header, sections


def _section(stamp_line: StampLine, lines: list[str]) -> _Section:
    body = tuple(line for line in lines if _parse_handover(line) is None)
    return _Section(stamp_line, body, _handovers(lines))


def parse_stamp_line(line: str, *, alone: bool = False) -> StampLine | None:
    """Read a line that opens an update, or return None if `line` is not one.

    A bare clock time ("14:52") counts only when `alone` says the text is
    known to be a time (the content of a `<time>` element); on its own line
    it needs an "Update" prefix, a headline, a meridiem or a zone label.
    """
    match = _STAMP_LINE.match(line)
    if match is None:
        return None
    if match["relative"]:
        relative = parse_relative(match["relative"])
        return StampLine(relative, match["headline"], line) if relative is not None else None
    marked = match["update"] or match["headline"] or match["meridiem"] or match["zone"]
    hour = hour_of_day(int(match["hour"]), match["meridiem"])
    if hour is None or not (marked or alone):
        return None
    stamp = Stamp(hour, int(match["minute"]), match["zone"])
    return StampLine(stamp, match["headline"], line)


def _parse_handover(line: str) -> _Handover | None:
    introduction = _INTRODUCTION.search(line)
    if introduction is None:  # most lines: the second search is not needed
        return None
    taking_over = _TAKING_OVER.search(line)
    if taking_over is None and not _GREETING.match(line):
        return None
    previous = taking_over["name"] if taking_over is not None else None
    return _Handover(introduction["name"], previous)


def _handovers(lines: Iterable[str]) -> tuple[_Handover, ...]:
    return tuple(h for h in map(_parse_handover, lines) if h is not None)


def _byline_name(line: str) -> str | None:
    match = _BYLINE.match(line)
    return match["name"] if match is not None else None


def _is_caption(line: str) -> bool:
    return line.endswith("]") and _CAPTION.match(line) is not None


def _is_plain(line: str) -> bool:
    """A body paragraph: not a byline, bullet, caption or hand-over note."""
    return not (
        _byline_name(line)
        or _BULLET.match(line)
        or _is_caption(line)
        or _parse_handover(line) is not None
    )


def _is_title(line: str) -> bool:
    return _is_plain(line) and len(line.split()) >= 3 and (line[0].isupper() or line[0].isdigit())


def read_header(lines: Sequence[str]) -> Header:
    """Find the title and byline, and decide whether the header holds a lead story.

    Lines before the title are navigation ("top of page") and are dropped.
    The header is an article only with enough plain paragraphs besides the
    standfirst (the first paragraph after the title).
    """
    bylines = [name for name in map(_byline_name, lines) if name]
    title_at = next((i for i, line in enumerate(lines) if _is_title(line)), None)
    title = lines[title_at] if title_at is not None else None
    body = [
        line
        for line in lines[(title_at + 1 if title_at is not None else 0) :]
        if not _byline_name(line) and _parse_handover(line) is None
    ]
    paragraphs = _paragraphs(body)
    return Header(
        title=title,
        author=bylines[0] if bylines else None,
        lines=tuple(body),
        is_article=len(paragraphs) - 1 >= _MIN_ARTICLE_PARAGRAPHS,
    )


def _editors(
    header_handovers: Sequence[_Handover], sections: Sequence[_Section], newest_first: bool
) -> list[str | None]:
    """Who wrote each update (page order), from the hand-over notes around it.

    A note applies to the updates written after it; "taking over from X"
    also credits X with the uncredited updates written before it.
    """
    events: list[int | _Handover] = list(header_handovers)
    for index, section in enumerate(sections):
        events.append(index)
        events.extend(section.handovers)
    if newest_first:
        events.reverse()
    editors: list[str | None] = [None] * len(sections)
    current: str | None = None
    uncredited: list[int] = []
    for event in events:
        if isinstance(event, _Handover):
            for index in uncredited if event.previous else ():
                editors[index] = event.previous
            uncredited = []
            current = event.editor
        elif current is not None:
            editors[event] = current
        else:
            uncredited.append(event)
    return editors


def _updates(
    sections: Sequence[_Section],
    times: ResolvedTimes,
    editors: Sequence[str | None],
    default_author: str | None,
    ctx: ExtractContext,
) -> list[ExtractedEntry]:
    """One entry per section, oldest first, keyed by time and same-time ordinal."""
    order = range(len(sections) - 1, -1, -1) if times.newest_first else range(len(sections))
    keys = time_keys([times.instants[index] for index in order])
    return [
        ExtractedEntry(
            key=key,
            title=_update_title(sections[index]),
            content_html=render_lines(sections[index].lines),
            published=times.instants[index],
            link=update_link(ctx.page_url, key),
            author=editors[index] or default_author,
            notes=times.notes[index],
        )
        for index, key in zip(order, keys, strict=True)
    ]


def time_keys(published: Iterable[datetime]) -> list[str]:
    """Keys for updates that have no identity of their own, given oldest first.

    The key is the UTC time to the second plus an ordinal among updates with
    the same time, counted oldest first, so updates added later (on top of a
    newest-first page, or below an oldest-first one) never shift it.
    """
    seen: Counter[str] = Counter()
    keys: list[str] = []
    for instant in published:
        stamp = f"{instant.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        keys.append(f"{stamp}-{seen[stamp]}")
        seen[stamp] += 1
    return keys


def update_link(page_url: str, key: str) -> str:
    """The link of an update the page gives no address of its own."""
    return f"{page_url}#update-{key}"


def _update_title(section: _Section) -> str:
    return section.stamp_line.headline or title_from_lines(section.lines) or section.stamp_line.text


def lead(
    header: Header, ctx: ExtractContext, oldest_update: datetime | None
) -> ExtractedEntry | None:
    """The lead story when the header holds one, dated from configuration, never the fetch.

    None when there is no lead, or nothing dates it (no configured date or
    start, and no update to borrow a time from).
    """
    dated = _lead_time(ctx, oldest_update) if header.is_article else None
    if dated is None:
        return None
    published, note = dated
    return ExtractedEntry(
        key="lead",
        title=header.title or first_sentence_title(_paragraphs(header.lines)[0]),
        content_html=render_lines(header.lines),
        published=published,
        link=ctx.page_url,
        author=header.author or ctx.author,
        notes=(note,),
    )


def _lead_time(ctx: ExtractContext, oldest_update: datetime | None) -> tuple[datetime, str] | None:
    """The lead's time and why: configured start, else the configured day's midnight."""
    if ctx.start is not None:
        start = ctx.start if ctx.start.tzinfo else ctx.start.replace(tzinfo=ctx.timezone)
        return start.astimezone(UTC), (
            f"the page gives no time for the lead, so the configured start "
            f"({start.isoformat()}) was used"
        )
    if ctx.day is not None:
        midnight = datetime.combine(ctx.day, time(0), tzinfo=ctx.timezone)
        return midnight.astimezone(UTC), (
            f"the page gives no time for the lead, so the start of the configured date "
            f"({ctx.day.isoformat()} 00:00 {ctx.timezone.key}) was used"
        )
    if oldest_update is None:
        return None
    return oldest_update, (
        "the page gives no time for the lead and no date or start is configured, "
        "so the oldest update's time was used"
    )


def _paragraphs(lines: Iterable[str]) -> list[str]:
    return [line for line in lines if _is_plain(line)]


def title_from_lines(lines: Iterable[str]) -> str | None:
    """The first sentence of the first plain paragraph (see `titles`), if there is one."""
    paragraphs = _paragraphs(lines)
    return first_sentence_title(paragraphs[0]) if paragraphs else None


def render_lines(lines: Sequence[str]) -> str:
    """Paragraphs as <p>, captions as <figure>, runs of bullets as one <ul>.

    Every tag here is ours and every piece of text is escaped, so there is no
    source markup for the sanitiser to remove: its output would be these
    bytes (html5ever escapes only &, <, > and NBSP in text, and the lines have
    no NBSP left), and skipping it halves the cost of a large page. Only the
    characters XML forbids are removed.
    """
    blocks: list[str] = []
    items: list[str] = []
    for line in lines:
        bullet = _BULLET.match(line)
        if bullet is not None:
            items.append(f"<li>{html.escape(bullet['text'], quote=False)}</li>")
            continue
        if items:
            blocks.append(f"<ul>{''.join(items)}</ul>")
            items = []
        blocks.append(_block(line))
    if items:
        blocks.append(f"<ul>{''.join(items)}</ul>")
    return strip_xml_illegal("\n".join(blocks))


def _block(line: str) -> str:
    text = html.escape(line, quote=False)
    if _is_caption(line):
        return f"<figure><figcaption>{text}</figcaption></figure>"
    return f"<p>{text}</p>"
