"""RFC 5005 archived feeds: the merged feed's older entries, on pages that stay put.

A feed reader that polls `/feed.atom` sees `max_entries` of the entries that
reached the log last, shared fairly between sources. One that was away longer, or
subscribes late, follows the subscription
feed's `prev-archive` link back through archive documents until it meets
one it has read (RFC 5005 section 4.2); together the documents hold every
entry exactly once.

What an archive document holds is decided by the order entries *first
appeared in the log*, never by their publication times. Each entry gets an
arrival number when its first event is folded (`EntryState.arrival`: 1, 2,
3, ... with no gaps), and that number never changes:

* of N entries, the subscription feed is chosen from the span of the
  S = max(fair_span, max_entries) latest to arrive (arrivals N - S + 1 to
  N): at most `max_entries` of them, shared max-min fairly between the
  sources of the span (`fair_share`), shown newest first by publication
  time like every feed here; the A = N - S before the span are filed by
  number;
* archive page p (1 = oldest) holds arrivals (p - 1) * size + 1 to p * size;
  the pages are 1 to A // size + 1, and the last is the open page, holding
  the A % size filed entries that do not fill a page yet (possibly none)
  and every entry of the span the subscription feed leaves out. It exists
  once any entry is left out of the feed.

The fair share is decided by arrival numbers and sources alone, both fixed
by an entry's first event, so the documents follow from the log and a
revision never moves an entry between the feed and the open page. A new
arrival moves the span, so it can move entries between the two (a flooding
source's older entries leave the feed for the open page, and come back if
the share grows again); an entry leaves both for its numbered page only
when the span passes it, and from then on stays there.

So a late-arriving entry (one an outlet published hours ago and the poller
saw only now) is the newest arrival: it goes into the subscription feed,
where every subscriber sees it (or, when its source already has its share,
onto the open page, which the feed links), never into a page readers have
already walked past. A page's membership is fixed once it is full (its arrivals are
all below A, and A only grows), and revisions cannot move an entry, since
they do not change its arrival number. Ordering by publication time instead
would refile entries whenever a late one landed between them.

Links: every page has `current` (the subscription feed) and, but the first,
`prev-archive`; a full page has `next-archive`, which always exists (the
next page, if only as the empty open page), so a full page's head never
changes either. The subscription feed's `prev-archive` is the open page.

A revised entry stays where it is filed, and its page shows the new version
(RFC 5005 section 4 asks that the *set* of entries of an archive document
not change; an entry in it may still be updated). Repeating the revision
in the subscription feed as well, which the RFC suggests a publisher
consider, would show the entry twice to a reader walking the archive, so it
is not done: a full page's bytes change only when an entry on it is revised
(or joins a story), and its ETag with them.

Changing `max_entries`, `archive_size` or `fair_span` renumbers the pages
(they are arithmetic on arrival numbers); all are meant to be set once per
feed. With `fair_span` at or below `max_entries` the span is the window and
the feed is "the `max_entries` latest to arrive".
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from aggregator import __version__
from aggregator.config import FeedConfig, Settings
from aggregator.store.base import ReadModel

# Cache-Control max-age of a full page: membership never changes and bytes only
# with a revision of an old entry, so a day of staleness is the whole risk.
# Not `immutable`: a revised entry must reach a client that revalidates.
FULL_PAGE_MAX_AGE = 86_400


@dataclass(frozen=True, slots=True)
class Paging:
    """How N entries split between the subscription feed and archive pages."""

    entries: int  # N: the last arrival number
    window: int  # max_entries
    size: int  # archive_size
    reach: int  # fair_span, at least max_entries: the arrivals the window is chosen from

    @classmethod
    def of(cls, feed: FeedConfig, entries: int) -> Paging:
        reach = max(feed.fair_span, feed.max_entries)
        return cls(entries=entries, window=feed.max_entries, size=feed.archive_size, reach=reach)

    @property
    def archived(self) -> int:
        """How many entries are filed on archive pages by number (the oldest
        arrivals, before the span the window is chosen from)."""
        return max(0, self.entries - self.reach)

    @property
    def pages(self) -> int:
        """How many archive pages there are; the last one is the open page. It
        exists as soon as any entry is left out of the subscription feed."""
        return self.archived // self.size + 1 if self.entries > self.window else 0

    def window_span(self) -> tuple[int, int]:
        """The first and last arrival number the subscription feed is chosen from."""
        return self.archived + 1, self.entries

    def span(self, page: int) -> tuple[int, int]:
        """The first and last arrival number on `page` (first > last when it is empty)."""
        return (page - 1) * self.size + 1, min(page * self.size, self.archived)

    def full(self, page: int) -> bool:
        return page * self.size <= self.archived

    def page_of(self, arrival: int) -> int:
        return (arrival - 1) // self.size + 1


def touched(before: Paging | None, after: Paging, changed: Iterable[int]) -> set[int]:
    """The pages of `after` whose bytes may differ from what `before` rendered,
    given the arrival numbers of the entries changed in between.

    Every page an entry moved onto or off (arrivals between the two archived
    counts: after one new entry, the open page, or two pages when it just
    filled), the pages of revised entries, and a new open page. The empty
    open page shows the newest archived entry's `updated`, so it follows that
    entry too. Anything else is untouched. Without a `before`, or when the
    paging itself changed, every page is.
    """
    if after.pages == 0:
        return set()
    if before is None or (before.window, before.size, before.reach) != (
        after.window,
        after.size,
        after.reach,
    ):
        return set(range(1, after.pages + 1))
    pages: set[int] = set()
    low, high = sorted((before.archived, after.archived))
    if low < high:
        pages.update(range(after.page_of(low + 1), min(after.page_of(high), after.pages) + 1))
    if before.entries != after.entries:
        pages.add(after.pages)  # the span moved: what the window leaves out changed
    for arrival in changed:
        if 0 < arrival <= after.archived:
            pages.add(after.page_of(arrival))
            if arrival == after.archived:
                pages.add(after.pages)
        elif after.reach > after.window:
            pages.add(after.pages)  # in the window's span: perhaps one it leaves out
    return pages


def fair_share(arrivals: Iterable[tuple[int, str]], slots: int) -> set[int]:
    """Which of `arrivals` ((arrival number, source) pairs) the window shows:
    at most `slots`, shared out max-min fairly between their sources.

    Sources with fewer entries than an even share keep them all, and what they
    leave is shared evenly by the rest (a share that does not divide goes to
    the sources with fewer entries, then by name), each taking its latest
    arrivals. So no source holds more than ceil(slots / sources) while another
    has an entry left out, and a lone source fills the window. Only arrival
    numbers and sources count, both fixed by an entry's first event: a
    revision never moves an entry in or out, and the choice follows from the
    log alone.
    """
    by_source: dict[str, list[int]] = {}
    for arrival, source in arrivals:
        by_source.setdefault(source, []).append(arrival)
    order = sorted(by_source.items(), key=lambda item: (len(item[1]), item[0]))
    chosen: set[int] = set()
    remaining = slots
    for index, (_, numbers) in enumerate(order):
        take = min(len(numbers), -(-remaining // (len(order) - index)))
        chosen.update(sorted(numbers, reverse=True)[:take])
        remaining -= take
    return chosen


def subscription_history(paging: Paging) -> tuple[tuple[str, int], ...]:
    """The subscription feed's RFC 5005 link, as (rel, page): `prev-archive` to
    the open page, when anything is archived."""
    return (("prev-archive", paging.pages),) if paging.pages else ()


def page_history(paging: Paging, page: int) -> tuple[tuple[str, int | None], ...]:
    """Page `page`'s RFC 5005 links as (rel, page; None for the subscription feed):
    `current`, `prev-archive` but on the first, `next-archive` on a full page."""
    history: list[tuple[str, int | None]] = [("current", None)]
    if page > 1:
        history.append(("prev-archive", page - 1))
    if paging.full(page):
        history.append(("next-archive", page + 1))
    return tuple(history)


def render_key(settings: Settings, with_entries: Collection[str]) -> str:
    """A digest of everything in the configuration a page's bytes depend on.

    The feed settings every page shows or is cut by, the program's version
    (the generator element), and for each configured source that has entries
    (`with_entries`: the names of the model's sources with any) what an
    entry's `atom:source` shows of it; a source with entries that is no
    longer configured drops out, which changes the key too (its entries fall
    back to its name). A new source without entries leaves the key alone, so
    adding one by SIGHUP does not render every page again; any other change
    renders every page once. A setting added later that shows in the
    documents belongs here too.
    """
    feed = settings.feed
    shown = (feed.title, feed.id, feed.author, feed.base_url, feed.subtitle)
    outlets = sorted(
        (s.name, s.id, s.title, s.link) for s in settings.sources if s.name in with_entries
    )
    paged = (feed.max_entries, feed.archive_size, feed.fair_span)
    text = repr((shown, paged, outlets, __version__))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the archive pages were last rendered from: the paging, the log
    position and the configuration (`render_key`)."""

    paging: Paging
    position: int
    key: str


def pages_to_render(
    baseline: Baseline | None, paging: Paging, position: int, key: str, model: ReadModel
) -> set[int]:
    """The pages to render again to bring what `baseline` rendered up to `position`.

    Every page when there is no baseline, the configuration changed, or the
    baseline is ahead of the model (a `replay --until` went back in time).
    """
    if baseline is None or baseline.key != key or baseline.position > position:
        return touched(None, paging, ())
    changed = model.changed_since(baseline.position) if position > baseline.position else []
    return touched(baseline.paging, paging, changed)
