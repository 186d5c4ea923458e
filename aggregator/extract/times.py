"""Turn the bare times of day printed on a live page into UTC instants.

Live pages stamp each update with a wall-clock time ("19:50 GMT",
"Update 2:52pm EST") and rarely with a date. The date has to come from
configuration (the day the earliest update was written) or, failing that, from
when the page was fetched, and a page that runs past midnight has to be noticed
from the times going backwards. Zone labels printed on pages are often wrong
(EST all summer long), so the configured IANA zone always decides the offset;
a label that disagrees is only reported, so an operator can see the page
mislabels its times.

Everything here is pure: the fetch time is an argument, never read from a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import NamedTuple
from zoneinfo import ZoneInfo

_ZERO_OFFSET_LABELS = frozenset({"GMT", "UTC", "UT", "Z"})


class Stamp(NamedTuple):
    """A time of day as printed on the page: 24-hour clock, optional zone label."""

    hour: int
    minute: int
    label: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedTimes:
    """UTC instants and notes for a page's stamps, both in page order."""

    newest_first: bool
    instants: tuple[datetime, ...]
    notes: tuple[tuple[str, ...], ...]


def is_newest_first(stamps: Sequence[tuple[int, int, str | None]]) -> bool:
    """Tell the page's order from its times of day.

    Adjacent pairs that go down outvote pairs that go up; a midnight crossing
    is only one pair, so it cannot flip the verdict on its own. A tie (or a
    single stamp) means newest first, the usual live-blog convention.
    """
    minutes = [hour * 60 + minute for hour, minute, _ in stamps]
    pairs = list(pairwise(minutes))
    decreases = sum(1 for earlier, later in pairs if later < earlier)
    increases = sum(1 for earlier, later in pairs if later > earlier)
    return decreases >= increases


def resolve_stamps(
    stamps: Sequence[tuple[int, int, str | None]],
    zone: ZoneInfo,
    day: date | None,
    fetched_at: datetime,
) -> ResolvedTimes:
    """Give every stamp a UTC instant, walking the page chronologically.

    With `day`, the oldest stamp is on that day and each strict step back in
    time of day means midnight was crossed. Without it, the newest stamp is
    placed on the fetch's local date (or the day before, if that would put it
    after the fetch) and the same crossings are counted backwards from there.
    """
    for hour, minute, _ in stamps:
        _check_time_of_day(hour, minute)
    newest_first = is_newest_first(stamps)
    chronological = list(reversed(stamps)) if newest_first else list(stamps)
    inferred = day is None
    first_day = day if day is not None else _inferred_first_day(chronological, zone, fetched_at)
    resolved = _walk(chronological, zone, first_day, inferred)
    if newest_first:
        resolved.reverse()
    return ResolvedTimes(
        newest_first=newest_first,
        instants=tuple(instant for instant, _ in resolved),
        notes=tuple(notes for _, notes in resolved),
    )


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


def _check_time_of_day(hour: int, minute: int) -> None:
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"not a time of day: {hour:02d}:{minute:02d}")


def _crossings(chronological: Sequence[tuple[int, int, str | None]]) -> int:
    """How many times the time of day goes strictly backwards, oldest to newest."""
    minutes = [hour * 60 + minute for hour, minute, _ in chronological]
    return sum(1 for earlier, later in pairwise(minutes) if later < earlier)


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
    inferred: bool,
) -> list[tuple[datetime, tuple[str, ...]]]:
    current_day = first_day
    previous: int | None = None
    resolved: list[tuple[datetime, tuple[str, ...]]] = []
    for hour, minute, label in chronological:
        minutes = hour * 60 + minute
        if previous is not None and minutes < previous:
            current_day += timedelta(days=1)
        previous = minutes
        local = _local(current_day, hour, minute, zone)
        notes = [note for note in (label_note(label, local, zone), _dst_note(local, zone)) if note]
        if inferred:
            notes.append(f"the day ({current_day.isoformat()}) was inferred from the fetch time")
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


def plausible(when: datetime, fetched_at: datetime, what: str) -> tuple[datetime, str | None]:
    """Reject a time more than a little ahead of the fetch, with a recorded reason.

    A page cannot report what has not happened yet: such a time is a typo, a
    wrong zone or a wrong day. The fetch time stands in for it (the latest
    moment the update can truly be from) and the note says what was rejected.
    """
    if when - fetched_at <= FUTURE_TOLERANCE:
        return when, None
    shown = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fetched = fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        fetched_at,
        f"{what} {shown} is after the fetch at {fetched}; rejected as implausible, fetch time used",
    )
