"""Turn the bare times of day printed on a live page into UTC instants.

Live pages stamp each update with a wall-clock time ("19:50 GMT",
"Update 2:52pm EST") and rarely with a date. The date has to come from
configuration (the day the earliest update was written) or, failing that, from
when the page was fetched, and a page that runs past midnight has to be noticed
from the times going backwards. Zone labels printed on pages are often wrong
(EST all summer long), so the configured IANA zone always decides the offset;
a label that disagrees is only reported, so an operator can see the page
mislabels its times.

Some pages print only how long ago an update was posted ("12m ago", "just
now"): such a label is read against the fetch time (whole minutes, so polls a
few seconds apart agree) and every time read that way carries a note, because
it is only as exact as the label. Times the page states in full (JSON-LD,
`<time datetime>`) are parsed here too, so a naive time is always read in the
configured zone and a bare date always becomes that zone's midnight, with a note.

Everything here is pure: the fetch time is an argument, never read from a clock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from aggregator.core.model import ExtractContext

_ZERO_OFFSET_LABELS = frozenset({"GMT", "UTC", "UT", "Z"})

_UNIT_WORDS = r"s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?"
RELATIVE_LABEL = rf"(?i:(?P<now>just now)|(?P<amount>\d{{1,4}})\s*(?P<unit>{_UNIT_WORDS})\s+ago)"
"""A relative label as a regular expression, for parsers that look for one inside a line."""

_RELATIVE = re.compile(rf"^{RELATIVE_LABEL}$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DATE_ONLY = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")
_TIME_ONLY = re.compile(r"^(?P<hour>\d{2}):(?P<minute>\d{2})(?::\d{2}(?:\.\d+)?)?$")


class Stamp(NamedTuple):
    """A time of day as printed on the page: 24-hour clock, optional zone label."""

    hour: int
    minute: int
    label: str | None = None


class Ago(NamedTuple):
    """A relative label as printed ("12m ago", "just now"): how long before the fetch."""

    delta: timedelta
    label: str


@dataclass(frozen=True, slots=True)
class ResolvedTimes:
    """UTC instants and notes for a page's stamps, both in page order."""

    newest_first: bool
    instants: tuple[datetime, ...]
    notes: tuple[tuple[str, ...], ...]


def is_newest_first(stamps: Sequence[tuple[int, int, str | None]]) -> bool:
    """Tell the page's order from its times of day (see `mostly_descending`)."""
    return mostly_descending([hour * 60 + minute for hour, minute, _ in stamps])


def mostly_descending(values: Sequence[float]) -> bool:
    """Whether values in page order run newest first.

    Adjacent pairs that go down outvote pairs that go up; a midnight crossing
    is only one pair, so it cannot flip the verdict on its own. A tie (or a
    single value) means newest first, the usual live-blog convention.
    """
    pairs = list(pairwise(values))
    decreases = sum(1 for earlier, later in pairs if later < earlier)
    increases = sum(1 for earlier, later in pairs if later > earlier)
    return decreases >= increases


def resolve_stamps(
    stamps: Sequence[tuple[int, int, str | None] | Ago],
    zone: ZoneInfo,
    day: date | None,
    fetched_at: datetime,
    anchor: str = "the fetch time",
) -> ResolvedTimes:
    """Give every stamp a UTC instant, walking the page chronologically.

    With `day`, the oldest stamp is on that day and each strict step back in
    time of day means midnight was crossed. Without it, the newest stamp is
    placed on the fetch's local date (or the day before, if that would put it
    after the fetch) and the same crossings are counted backwards from there;
    `anchor` names what `fetched_at` stands for in the notes (the page's own
    modification time, for the generic extractor).
    Relative labels (`Ago`) are exact instants already: they take part in
    telling the page's order but not in the walk.
    """
    clocks = [stamp for stamp in stamps if not isinstance(stamp, Ago)]
    for hour, minute, _ in clocks:
        _check_time_of_day(hour, minute)
    newest_first = is_newest_first([_time_of_day(stamp, zone, fetched_at) for stamp in stamps])
    chronological = list(reversed(stamps)) if newest_first else list(stamps)
    chronological_clocks = [stamp for stamp in chronological if not isinstance(stamp, Ago)]
    inferred = day is None
    first_day = (
        day if day is not None else _inferred_first_day(chronological_clocks, zone, fetched_at)
    )
    walked = iter(_walk(chronological_clocks, zone, first_day, anchor if inferred else None))
    resolved = [
        _relative(stamp, fetched_at) if isinstance(stamp, Ago) else next(walked)
        for stamp in chronological
    ]
    if newest_first:
        resolved.reverse()
    return ResolvedTimes(
        newest_first=newest_first,
        instants=tuple(instant for instant, _ in resolved),
        notes=tuple(notes for _, notes in resolved),
    )


def parse_relative(label: str) -> Ago | None:
    """Read "12m ago", "2h ago", "1 hour ago", "3 days ago" or "just now"; None otherwise."""
    text = " ".join(label.split())
    match = _RELATIVE.match(text)
    if match is None:
        return None
    if match["now"]:
        return Ago(timedelta(0), text)
    unit = _UNITS[match["unit"][0].lower()]
    return Ago(timedelta(**{unit: int(match["amount"])}), text)


def relative_instant(ago: Ago, fetched_at: datetime) -> datetime:
    """The fetch time, cut to the whole minute, minus the label's delta, in UTC."""
    return fetched_at.astimezone(UTC).replace(second=0, microsecond=0) - ago.delta


def hour_of_day(hour: int, meridiem: str | None) -> int | None:
    """The 24-hour value of a printed hour ("p" for pm, "a" for am), or None if it cannot be one.

    Both printed-stamp grammars (`liveblog_text`, `stamps`) read hours this way.
    """
    if meridiem is None:
        return hour if hour <= 23 else None
    if not 1 <= hour <= 12:
        return None
    return hour % 12 + (12 if meridiem.lower() == "p" else 0)


def parse_time_of_day(value: str) -> Stamp | None:
    """A bare ISO time ("23:50", "23:50:00") as a stamp; None for anything else."""
    match = _TIME_ONLY.match(value.strip())
    if match is None:
        return None
    hour, minute = int(match["hour"]), int(match["minute"])
    return Stamp(hour, minute) if hour <= 23 and minute <= 59 else None


def parse_iso(value: str, zone: ZoneInfo, what: str) -> tuple[datetime, tuple[str, ...]] | None:
    """An ISO 8601 date or date-time as a UTC instant with notes; None if it is not one.

    With an offset ("Z", "+02:00") the instant is exact; a naive time is a wall
    time in `zone` (noted only if a clock change made it ambiguous or skipped);
    a bare date is midnight in `zone`, and the note says so. `what` names the
    value in notes ("datePublished").
    """
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC), ()
        local = parsed.replace(tzinfo=zone)
        instant = local.astimezone(UTC)
    except (ValueError, OverflowError):
        # Not a date, or one that UTC cannot hold (9999-12-31T23:00-05:00 is
        # in year 10000): as unreadable as any other bad value, not a crash.
        return None
    notes = (
        f"{what} '{text}' has no time of day; midnight in {zone.key} was used"
        if _DATE_ONLY.match(text)
        else _dst_note(local, zone),
    )
    return instant, tuple(note for note in notes if note)


def label_note(label: str | None, local: datetime, zone: ZoneInfo) -> str | None:
    """Describe how a printed zone label contradicts the zone at `local`, if it does."""
    if label is None:
        return None
    printed = label.upper()
    actual = local.tzname() or ""
    if printed == actual.upper():
        return None
    if printed in _ZERO_OFFSET_LABELS and local.utcoffset() == timedelta(0):
        return None
    if _is_generic_form(printed, actual.upper()):
        return None
    return (
        f"label '{label}' contradicts {zone.key}, which was on {actual} at "
        f"{local:%Y-%m-%d %H:%M}; the zone was used"
    )


def _is_generic_form(printed: str, actual: str) -> bool:
    """Whether `printed` is the season-less form of `actual`: "ET" for EST or EDT."""
    return (
        len(printed) == 2 and printed[1] == "T" and actual in {printed[0] + "ST", printed[0] + "DT"}
    )


def _time_of_day(
    stamp: tuple[int, int, str | None] | Ago, zone: ZoneInfo, fetched_at: datetime
) -> tuple[int, int, str | None]:
    """The local time of day a stamp stands for, to tell the page's order."""
    if not isinstance(stamp, Ago):
        return stamp
    local = relative_instant(stamp, fetched_at).astimezone(zone)
    return local.hour, local.minute, None


def _relative(ago: Ago, fetched_at: datetime) -> tuple[datetime, tuple[str, ...]]:
    fetched = fetched_at.astimezone(UTC)
    note = f"'{ago.label}' was read against the fetch time ({fetched:%Y-%m-%dT%H:%MZ})"
    return relative_instant(ago, fetched_at), (note,)


def _check_time_of_day(hour: int, minute: int) -> None:
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"not a time of day: {hour:02d}:{minute:02d}")


# A step back in the time of day longer than this, oldest to newest, is a
# midnight crossing; a shorter one is an update filed out of order (Les Echos
# prints 7h07, 7h05, 7h07 on one morning). A crossing steps back by the length
# of the night, 23.46 to 00.04 being nearly a whole day.
CROSSING_STEP_BACK = 3 * 60


def crossed_midnight(earlier: int, later: int) -> bool:
    """Whether minutes-of-day `later`, following `earlier` in time, is on the next day."""
    return earlier - later > CROSSING_STEP_BACK


def _crossings(chronological: Sequence[tuple[int, int, str | None]]) -> int:
    """How many midnights the times of day cross, oldest to newest."""
    minutes = [hour * 60 + minute for hour, minute, _ in chronological]
    return sum(1 for earlier, later in pairwise(minutes) if crossed_midnight(earlier, later))


def _inferred_first_day(
    chronological: Sequence[tuple[int, int, str | None]], zone: ZoneInfo, fetched_at: datetime
) -> date:
    """The oldest stamp's day when only the fetch time can tell it."""
    if not chronological:
        return fetched_at.astimezone(zone).date()
    hour, minute, _ = chronological[-1]
    newest_day = fetched_at.astimezone(zone).date()
    if _local(newest_day, hour, minute, zone) > fetched_at:
        newest_day -= timedelta(days=1)
    return newest_day - timedelta(days=_crossings(chronological))


def _walk(
    chronological: Sequence[tuple[int, int, str | None]],
    zone: ZoneInfo,
    first_day: date,
    inferred_from: str | None,
) -> list[tuple[datetime, tuple[str, ...]]]:
    current_day = first_day
    previous: int | None = None
    resolved: list[tuple[datetime, tuple[str, ...]]] = []
    for hour, minute, label in chronological:
        minutes = hour * 60 + minute
        if previous is not None and crossed_midnight(previous, minutes):
            current_day += timedelta(days=1)
        previous = minutes
        local = _local(current_day, hour, minute, zone)
        notes = [note for note in (label_note(label, local, zone), _dst_note(local, zone)) if note]
        if inferred_from is not None:
            notes.append(f"the day ({current_day.isoformat()}) was inferred from {inferred_from}")
        resolved.append((local.astimezone(UTC), tuple(notes)))
    return resolved


def _local(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone)


def _dst_note(local: datetime, zone: ZoneInfo) -> str | None:
    """Report a wall time that a clock change made ambiguous or skipped."""
    later = local.replace(fold=1)
    if later.utcoffset() == local.utcoffset():
        return None
    round_trip = local.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) == local.replace(tzinfo=None):
        return (
            f"{local:%Y-%m-%d %H:%M} happened twice in {zone.key} (clocks went back); "
            "the first occurrence was used"
        )
    return (
        f"{local:%Y-%m-%d %H:%M} did not exist in {zone.key} (clocks went forward); "
        f"it was read as {round_trip:%H:%M} {round_trip.tzname()}"
    )


FUTURE_TOLERANCE = timedelta(minutes=15)


# No web feed or live blog predates this: an earlier time is a CMS's zero
# date (1970-01-01, 0001-01-01) or a two-digit year read wrong, not news.
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)


def plausible(when: datetime, fetched_at: datetime, what: str) -> tuple[datetime, str | None]:
    """Reject a time ahead of the fetch or before 1990, with a recorded reason.

    A page cannot report what has not happened yet: such a time is a typo, a
    wrong zone or a wrong day. Nor does the web have news from before 1990.
    The fetch time stands in for either (the latest moment the update can
    truly be from) and the note says what was rejected.
    """
    fetched = fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if too_far_ahead(when, fetched_at):
        problem = f"is after the fetch at {fetched}"
    elif when < EARLIEST_PLAUSIBLE:
        problem = "is before 1990"
    else:
        return when, None
    return fetched_at, f"{what} {shown} {problem}; rejected as implausible, fetch time used"


def stated_time(
    value: str, what: str, ctx: ExtractContext
) -> tuple[datetime, tuple[str, ...]] | None:
    """A full date (and time) a page states in its markup, checked against the fetch time."""
    parsed = parse_iso(value, ctx.timezone, what)
    if parsed is None:
        return None
    instant, notes = parsed
    checked, rejected = plausible(instant, ctx.fetched_at, what)
    return checked, (*notes, *((rejected,) if rejected else ()))


def too_far_ahead(when: datetime, anchor: datetime) -> bool:
    """True when `when` is more than the tolerance after the moment the page is from."""
    return when - anchor > FUTURE_TOLERANCE


def future_note(what: str, when: datetime, anchor: datetime) -> str:
    """Why an update whose identity rests on its time was left out of this poll.

    Such an update cannot take the fetch time instead (its key would change on
    every poll); it is skipped until the page's clock has passed it.
    """
    shown = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    at = anchor.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{what} at {shown} is after the page's time {at}; rejected as implausible and skipped"


_URL_DATE = re.compile(r"(?<!\d)(20\d\d)[/-](\d{1,2})[/-](\d{1,2})(?![\d])")


def day_from_url(url: str) -> date | None:
    """The date a live blog's address carries (/2020/9/27/, 2020-09-27), if any."""
    match = _URL_DATE.search(urlsplit(url).path)
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def page_day(ctx: ExtractContext) -> date | None:
    """The day of a page's earliest update: configured, else from its URL."""
    return ctx.day or day_from_url(ctx.page_url)


def anchor_time(ctx: ExtractContext) -> datetime:
    """The moment the page is known to be from: the server's Date, else our fetch."""
    return ctx.server_date or ctx.fetched_at
