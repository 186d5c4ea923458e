"""Rule 5 of the generic reading (`blocks`): when each block of the series was posted.

A block's own stated time (a `datetime` attribute, microdata, other date
attributes) is read first; a printed time of day takes its day from that, else
from the day heading above it, else from the page's own latest stated time,
the URL or the configured date, else the fetch, with midnights found from
page order (`times.resolve_stamps`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import NamedTuple

from lxml.html import HtmlElement

from aggregator.core.model import ExtractContext, normalise_text
from aggregator.ingest.extract.markup import HEADINGS
from aggregator.ingest.extract.series import UNREAD, Candidate, Series
from aggregator.ingest.extract.stamps import Printed, day_heading, metadata_instant
from aggregator.ingest.extract.times import (
    Ago,
    Stamp,
    anchor_time,
    label_note,
    page_day,
    resolve_stamps,
)

_NOT_PUBLICATION = ("modif", "updat", "edit", "since", "before", "expir", "sort")
_META_NAMES = frozenset(
    {
        "article:modified_time",
        "article:published_time",
        "og:updated_time",
        "last-modified",
        "date",
        "dc.date",
        "dc.date.issued",
        "dc.date.modified",
        "dcterms.modified",
        "dcterms.created",
        "dcterms.date",
        "datepublished",
        "datemodified",
        "pubdate",
        "publishdate",
    }
)


class When(NamedTuple):
    """A block's time (None if it has none), notes on how it was read, and its basis."""

    instant: datetime | None
    notes: tuple[str, ...]
    basis: str = "stated"  # see Draft.basis


def block_times(
    root: HtmlElement,
    series: Series,
    by_element: dict[HtmlElement, list[Candidate]],
    stated: Iterable[str],
    ctx: ExtractContext,
) -> list[When]:
    """Each head's time; `stated` are further times the page states about itself."""
    anchor, anchor_label = _page_anchor(root, ctx, set(series.heads), stated)
    days = _heading_days(series.heads, anchor or anchor_time(ctx), ctx)
    return _head_times(series, by_element, days, anchor, anchor_label, ctx)


def _head_times(
    series: Series,
    by_element: dict[HtmlElement, list[Candidate]],
    days: Sequence[tuple[date, str] | None],
    anchor: datetime | None,
    anchor_label: str,
    ctx: ExtractContext,
) -> list[When]:
    """Each head's time (rule 5); printed stamps without a day are walked together."""
    whens: list[When | None] = []
    walk: list[tuple[int, Stamp | Ago]] = []
    for index, head in enumerate(series.heads):
        own = by_element[head]
        machine = _machine_time(own)
        printed = next((c.value for c in own if isinstance(c.value, Printed)), None)
        heading = days[index]
        if machine is not None and printed is None:
            whens.append(When(machine, ()))
        elif machine is not None and printed is not None:
            whens.append(_combined(machine, printed, ctx))
        elif printed is not None and isinstance(printed.when, Stamp) and heading is not None:
            whens.append(_on_day(printed.when, heading, ctx))
        elif printed is not None:
            whens.append(None)
            walk.append((index, printed.when))
        else:
            whens.append(When(None, ("has no time that could be read",)))
    if walk:
        day = None if anchor is not None else page_day(ctx)
        bound = anchor if anchor is not None else anchor_time(ctx)
        label = anchor_label if anchor is not None else "the fetch time"
        resolved = resolve_stamps([stamp for _, stamp in walk], ctx.timezone, day, bound, label)
        for (index, stamp), instant, notes in zip(
            walk, resolved.instants, resolved.notes, strict=True
        ):
            whens[index] = When(instant, notes, "relative" if isinstance(stamp, Ago) else "printed")
    return [when if when is not None else When(None, ()) for when in whens]


def _machine_time(own: Sequence[Candidate]) -> datetime | None:
    """The block's stated time: a `datetime` attribute, microdata, then other attributes
    (publication-like names before modification-like ones), first in page order."""
    stated = [c for c in own if isinstance(c.value, datetime)]
    if not stated:
        return None
    best = min(stated, key=_stated_rank).value
    assert isinstance(best, datetime)
    return best


def _stated_rank(candidate: Candidate) -> tuple[int, bool, bool]:
    order = {"@datetime": 0, "@itemprop": 1}.get(candidate.kind, 2)
    later = any(word in candidate.kind for word in _NOT_PUBLICATION)
    return order, later, candidate.kind in ("@title", "@content")


def _combined(machine: datetime, printed: Printed, ctx: ExtractContext) -> When:
    """A printed time with a stated one: the stated instant when they agree, else the
    printed time on the stated instant's local day (what a reader sees wins)."""
    if not isinstance(printed.when, Stamp):
        return When(machine, ())
    local = machine.astimezone(ctx.timezone)
    if (local.hour, local.minute) == (printed.when.hour, printed.when.minute):
        return When(machine, ())
    shown = datetime.combine(
        local.date(), time(printed.when.hour, printed.when.minute), tzinfo=ctx.timezone
    ).astimezone(UTC)
    note = (
        f"the page shows {printed.when.hour:02d}:{printed.when.minute:02d} where its markup "
        f"states {machine:%Y-%m-%dT%H:%MZ}; the time shown was used"
    )
    return When(shown, (note,))


def _on_day(stamp: Stamp, heading: tuple[date, str], ctx: ExtractContext) -> When:
    day, text = heading
    local = datetime.combine(day, time(stamp.hour, stamp.minute), tzinfo=ctx.timezone)
    notes = [f"the day ({day.isoformat()}) came from the heading '{text}'"]
    contradiction = label_note(stamp.label, local, ctx.timezone)
    if contradiction:
        notes.append(contradiction)
    return When(local.astimezone(UTC), tuple(notes), "printed")


def _heading_days(
    heads: Sequence[HtmlElement], anchor: datetime, ctx: ExtractContext
) -> list[tuple[date, str] | None]:
    """The day heading above each head, within the series' container, if there is one."""
    container = heads[0].getparent()
    assert container is not None
    head_set = set(heads)
    bound = anchor.astimezone(ctx.timezone).date()
    current: tuple[date, str] | None = None
    found: dict[HtmlElement, tuple[date, str] | None] = {}
    stack: list[HtmlElement] = [container]
    while stack:
        element = stack.pop()
        if element in head_set:
            found[element] = current
            continue
        if not isinstance(element.tag, str) or element.tag in UNREAD:
            continue
        if element.tag in HEADINGS or element.getparent() is container:
            text = normalise_text(element.text_content())
            day = day_heading(text, bound) if text else None
            if day is not None:
                current = (day, text)
                continue
        stack.extend(reversed(element))
    return [found.get(head) for head in heads]


def _page_anchor(
    root: HtmlElement, ctx: ExtractContext, heads: set[HtmlElement], stated: Iterable[str]
) -> tuple[datetime | None, str]:
    """The latest time the page states about itself (metadata), bounded by the fetch."""
    fetched = anchor_time(ctx)
    values: list[str] = list(stated)
    for meta in root.iter("meta"):
        name = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if name in _META_NAMES and meta.get("content"):
            values.append(meta.get("content") or "")
    for element in root.iter("time"):
        if element.get("datetime") and not any(a in heads for a in element.iterancestors()):
            values.append(element.get("datetime") or "")
    instants = [
        instant
        for instant in (metadata_instant(value, ctx.timezone, fetched) for value in values)
        if instant is not None
    ]
    if not instants:
        return None, ""
    latest = max(instants)
    return latest, f"the page's own time ({latest:%Y-%m-%dT%H:%MZ})"
