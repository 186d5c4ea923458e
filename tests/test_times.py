"""Tests for turning page-order times of day into UTC instants."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aggregator.extract.times import Stamp, is_newest_first, label_note, resolve_stamps

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
DAY = date(2020, 9, 27)
FETCHED_AT = datetime(2020, 9, 28, 0, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def stamps(*times: str, label: str | None = None) -> list[Stamp]:
    return [Stamp(int(t[:2]), int(t[3:]), label) for t in times]


# --- page order -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "newest_first"),
    [
        (("19:50", "19:00", "08:39"), True),
        (("14:52", "15:03", "19:09"), False),
        (("10:00",), True),
        ((), True),
        (("10:00", "10:00"), True),
        (("10:00", "11:00", "10:30"), True),
        (("00:20", "23:50", "23:10", "22:00"), True),
        (("22:00", "23:10", "23:50", "00:20"), False),
    ],
)
def test_page_order_detection(times: tuple[str, ...], newest_first: bool) -> None:
    assert is_newest_first(stamps(*times)) is newest_first


# --- with a configured day ------------------------------------------------------


def test_newest_first_on_configured_day() -> None:
    result = resolve_stamps(stamps("19:50", "12:00", "08:39"), UTC_ZONE, DAY, FETCHED_AT)
    assert result.newest_first
    assert result.instants == (
        utc(2020, 9, 27, 19, 50),
        utc(2020, 9, 27, 12),
        utc(2020, 9, 27, 8, 39),
    )
    assert result.notes == ((), (), ())


def test_newest_first_crossing_midnight() -> None:
    result = resolve_stamps(stamps("00:20", "23:50", "23:10"), UTC_ZONE, DAY, FETCHED_AT)
    assert result.instants == (
        utc(2020, 9, 28, 0, 20),
        utc(2020, 9, 27, 23, 50),
        utc(2020, 9, 27, 23, 10),
    )


def test_oldest_first_crossing_midnight_twice() -> None:
    result = resolve_stamps(
        stamps("22:00", "23:30", "01:00", "12:00", "23:00", "02:00"), UTC_ZONE, DAY, FETCHED_AT
    )
    assert not result.newest_first
    assert [i.date().day for i in result.instants] == [27, 27, 28, 28, 28, 29]


def test_equal_times_do_not_cross_midnight() -> None:
    result = resolve_stamps(stamps("14:05", "14:05", "13:00"), UTC_ZONE, DAY, FETCHED_AT)
    assert result.instants == (
        utc(2020, 9, 27, 14, 5),
        utc(2020, 9, 27, 14, 5),
        utc(2020, 9, 27, 13),
    )


def test_local_wall_time_converted_with_zone() -> None:
    result = resolve_stamps(stamps("14:52", "19:09", label="EDT"), NEW_YORK, DAY, FETCHED_AT)
    assert result.instants == (utc(2020, 9, 27, 18, 52), utc(2020, 9, 27, 23, 9))
    assert result.notes == ((), ())
    assert all(instant.tzinfo is UTC for instant in result.instants)


def test_result_is_frozen() -> None:
    result = resolve_stamps(stamps("10:00"), UTC_ZONE, DAY, FETCHED_AT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.newest_first = False  # type: ignore[misc]


def test_empty_input() -> None:
    result = resolve_stamps([], UTC_ZONE, DAY, FETCHED_AT)
    assert result.instants == () and result.notes == ()


@pytest.mark.parametrize("bad", [(24, 0, None), (-1, 0, None), (10, 60, None)])
def test_invalid_time_of_day_rejected(bad: tuple[int, int, None]) -> None:
    with pytest.raises(ValueError, match="not a time of day"):
        resolve_stamps([bad], UTC_ZONE, DAY, FETCHED_AT)


# --- without a configured day ---------------------------------------------------


def test_inferred_day_anchors_newest_on_fetch_date() -> None:
    fetched = utc(2020, 9, 28, 0, 30)
    result = resolve_stamps(stamps("21:00", "22:00", "23:30", "00:15"), UTC_ZONE, None, fetched)
    assert not result.newest_first
    assert result.instants == (
        utc(2020, 9, 27, 21),
        utc(2020, 9, 27, 22),
        utc(2020, 9, 27, 23, 30),
        utc(2020, 9, 28, 0, 15),
    )
    assert result.notes[0] == ("the day (2020-09-27) was inferred from the fetch time",)
    assert result.notes[3] == ("the day (2020-09-28) was inferred from the fetch time",)


def test_inferred_day_steps_back_when_newest_would_be_after_fetch() -> None:
    fetched = utc(2020, 9, 28, 0, 10)
    result = resolve_stamps(stamps("19:50", "08:39"), UTC_ZONE, None, fetched)
    assert result.instants == (utc(2020, 9, 27, 19, 50), utc(2020, 9, 27, 8, 39))


def test_inferred_day_uses_local_date_of_fetch() -> None:
    fetched = utc(2020, 9, 28, 2, 0)  # still 27 September, 22:00 in New York
    result = resolve_stamps(stamps("14:52", "19:09"), NEW_YORK, None, fetched)
    assert result.instants == (utc(2020, 9, 27, 18, 52), utc(2020, 9, 27, 23, 9))


# --- zone labels ----------------------------------------------------------------


def test_est_label_in_summer_is_a_contradiction() -> None:
    result = resolve_stamps(stamps("14:52", label="EST"), NEW_YORK, DAY, FETCHED_AT)
    assert result.instants == (utc(2020, 9, 27, 18, 52),)
    assert result.notes == (
        (
            "label 'EST' contradicts America/New_York, which was on EDT at 2020-09-27 14:52; "
            "the zone was used",
        ),
    )


@pytest.mark.parametrize(
    ("label", "zone", "local", "contradicts"),
    [
        ("EDT", NEW_YORK, datetime(2020, 9, 27, 14, 52), False),
        ("EST", NEW_YORK, datetime(2020, 12, 1, 14, 52), False),
        ("edt", NEW_YORK, datetime(2020, 9, 27, 14, 52), False),
        ("ET", NEW_YORK, datetime(2020, 9, 27, 14, 52), False),
        ("GMT", UTC_ZONE, datetime(2020, 9, 27, 19, 50), False),
        ("UT", UTC_ZONE, datetime(2020, 9, 27, 19, 50), False),
        ("Z", UTC_ZONE, datetime(2020, 9, 27, 19, 50), False),
        ("UTC", LONDON, datetime(2020, 12, 1, 10, 0), False),
        ("BST", LONDON, datetime(2020, 9, 27, 10, 0), False),
        ("GMT", LONDON, datetime(2020, 9, 27, 10, 0), True),
        ("EST", ZoneInfo("America/Bogota"), datetime(2020, 9, 27, 10, 0), True),
        ("CDT", NEW_YORK, datetime(2020, 9, 27, 10, 0), True),
        (None, NEW_YORK, datetime(2020, 9, 27, 10, 0), False),
    ],
)
def test_label_note(label: str | None, zone: ZoneInfo, local: datetime, contradicts: bool) -> None:
    note = label_note(label, local.replace(tzinfo=zone), zone)
    assert (note is not None) is contradicts
    if note is not None:
        assert note.startswith(f"label '{label}' contradicts {zone.key}")


# --- clock changes --------------------------------------------------------------


def test_wall_time_skipped_by_spring_forward_is_noted() -> None:
    result = resolve_stamps(stamps("02:30"), NEW_YORK, date(2020, 3, 8), FETCHED_AT)
    assert result.instants == (utc(2020, 3, 8, 7, 30),)
    assert result.notes == (
        (
            "2020-03-08 02:30 did not exist in America/New_York (clocks went forward); "
            "it was read as 03:30 EDT",
        ),
    )


def test_ambiguous_wall_time_uses_first_occurrence() -> None:
    result = resolve_stamps(stamps("01:30"), NEW_YORK, date(2020, 11, 1), FETCHED_AT)
    assert result.instants == (utc(2020, 11, 1, 5, 30),)
    assert "happened twice" in result.notes[0][0]


# --- property: a plausible newest-first page resolves back to its true instants ---


@given(
    start=st.integers(min_value=0, max_value=24 * 60 - 1),
    gaps=st.lists(st.integers(min_value=0, max_value=24 * 60 - 1), max_size=30),
)
def test_newest_first_round_trip(start: int, gaps: list[int]) -> None:
    origin = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    truth = [origin + timedelta(minutes=start)]
    for gap in gaps:
        truth.append(truth[-1] + timedelta(minutes=gap))
    page = [Stamp(t.hour, t.minute) for t in reversed(truth)]
    assume(is_newest_first(page))
    result = resolve_stamps(page, UTC_ZONE, DAY, FETCHED_AT)
    assert list(result.instants) == list(reversed(truth))
