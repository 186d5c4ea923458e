"""Tests for turning page-order times of day into UTC instants."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from aggregator.ingest.extract.times import (
    CROSSING_STEP_BACK,
    Ago,
    Stamp,
    is_newest_first,
    label_note,
    mostly_descending,
    parse_iso,
    parse_relative,
    parse_time_of_day,
    relative_instant,
    resolve_stamps,
)

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


def _readable_step(earlier: datetime, later: datetime) -> bool:
    """Same day, or the next day with the clock stepping back past CROSSING_STEP_BACK."""
    back = (earlier.hour * 60 + earlier.minute) - (later.hour * 60 + later.minute)
    if later.date() == earlier.date():
        return True
    return later.date() - earlier.date() == timedelta(days=1) and back > CROSSING_STEP_BACK


def test_a_short_step_back_is_an_update_out_of_order_not_a_midnight() -> None:
    """7h07, 7h05, 7h07 (newest first) are one morning, as Les Echos printed them."""
    page = [Stamp(9, 5), Stamp(7, 7), Stamp(7, 5), Stamp(7, 7)]
    result = resolve_stamps(page, UTC_ZONE, DAY, FETCHED_AT)
    assert {instant.date() for instant in result.instants} == {DAY}


def test_a_long_step_back_is_a_midnight() -> None:
    """00.04 above 23.46 (newest first): the page crossed midnight."""
    page = [Stamp(0, 4), Stamp(23, 46), Stamp(23, 45)]
    result = resolve_stamps(page, UTC_ZONE, DAY, FETCHED_AT)
    assert [instant.day for instant in result.instants] == [DAY.day + 1, DAY.day, DAY.day]


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
    # A page tells a midnight only by a long step back in the time of day.
    assume(all(_readable_step(a, b) for a, b in pairwise(truth)))
    result = resolve_stamps(page, UTC_ZONE, DAY, FETCHED_AT)
    assert list(result.instants) == list(reversed(truth))


# --- relative labels ("12m ago") ------------------------------------------------


@pytest.mark.parametrize(
    ("label", "delta"),
    [
        ("12m ago", timedelta(minutes=12)),
        ("2h ago", timedelta(hours=2)),
        ("1 hour ago", timedelta(hours=1)),
        ("3 hours ago", timedelta(hours=3)),
        ("5 MINUTES AGO", timedelta(minutes=5)),
        ("2  hrs ago", timedelta(hours=2)),
        ("45 secs ago", timedelta(seconds=45)),
        ("1 day ago", timedelta(days=1)),
        ("just now", timedelta(0)),
        ("Just now", timedelta(0)),
    ],
)
def test_parse_relative(label: str, delta: timedelta) -> None:
    assert parse_relative(label) == Ago(delta, " ".join(label.split()))


@pytest.mark.parametrize("label", ["12 ago", "ago", "2 weeks ago", "12m", "now", "just now!", ""])
def test_parse_relative_rejects_other_text(label: str) -> None:
    assert parse_relative(label) is None


def test_relative_instant_is_the_fetch_minute_minus_the_delta() -> None:
    fetched = datetime(2020, 9, 27, 17, 30, 40, 500, tzinfo=ZoneInfo("Europe/Paris"))
    ago = Ago(timedelta(minutes=12), "12m ago")
    assert relative_instant(ago, fetched) == utc(2020, 9, 27, 15, 18)
    assert relative_instant(ago, fetched).tzinfo is UTC


def test_relative_labels_resolve_against_the_fetch_with_notes() -> None:
    fetched = datetime(2020, 9, 27, 15, 30, 40, tzinfo=UTC)
    labels = [Ago(timedelta(0), "just now"), Ago(timedelta(minutes=12), "12m ago")]
    result = resolve_stamps(labels, LONDON, DAY, fetched)
    assert result.newest_first
    assert result.instants == (utc(2020, 9, 27, 15, 30), utc(2020, 9, 27, 15, 18))
    assert result.notes == (
        ("'just now' was read against the fetch time (2020-09-27T15:30Z)",),
        ("'12m ago' was read against the fetch time (2020-09-27T15:30Z)",),
    )


def test_relative_labels_ignore_the_day_walk_of_clock_stamps() -> None:
    fetched = utc(2020, 9, 28, 0, 30)
    page = [Ago(timedelta(minutes=10), "10m ago"), Stamp(23, 50), Stamp(23, 10)]
    result = resolve_stamps(page, UTC_ZONE, DAY, fetched)
    assert result.newest_first
    assert result.instants == (
        utc(2020, 9, 28, 0, 20),
        utc(2020, 9, 27, 23, 50),
        utc(2020, 9, 27, 23, 10),
    )
    assert result.notes[1:] == ((), ())


@pytest.mark.parametrize(
    ("values", "newest_first"),
    [([3.0, 2.0, 1.0], True), ([1, 2, 3], False), ([], True), ([1, 1], True), ([1, 3, 2], True)],
)
def test_mostly_descending(values: list[float], newest_first: bool) -> None:
    assert mostly_descending(values) is newest_first


# --- times stated in full (JSON-LD, <time datetime>) ------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020-09-27T14:52:00-04:00", utc(2020, 9, 27, 18, 52)),
        ("2020-09-27T18:52:00Z", utc(2020, 9, 27, 18, 52)),
        ("2020-09-27T18:52:00+0000", utc(2020, 9, 27, 18, 52)),
        ("2020-09-27T14:52:00", utc(2020, 9, 27, 18, 52)),
        ("2020-09-27 14:52", utc(2020, 9, 27, 18, 52)),
        (" 2020-09-27T14:52:00 ", utc(2020, 9, 27, 18, 52)),
    ],
)
def test_parse_iso_offsets_and_naive_times(value: str, expected: datetime) -> None:
    assert parse_iso(value, NEW_YORK, "datePublished") == (expected, ())


def test_parse_iso_keeps_milliseconds() -> None:
    parsed = parse_iso("2020-09-27T18:52:00.123Z", NEW_YORK, "datePublished")
    assert parsed == (datetime(2020, 9, 27, 18, 52, 0, 123000, tzinfo=UTC), ())


@pytest.mark.parametrize("value", ["2020-09-27", "20200927"])
def test_parse_iso_date_only_is_midnight_in_the_zone_with_a_note(value: str) -> None:
    assert parse_iso(value, NEW_YORK, "datePublished") == (
        utc(2020, 9, 27, 4, 0),
        (f"datePublished '{value}' has no time of day; midnight in America/New_York was used",),
    )


def test_parse_iso_naive_time_skipped_by_a_clock_change_is_noted() -> None:
    parsed = parse_iso("2020-03-08T02:30:00", NEW_YORK, "datetime")
    assert parsed is not None
    assert parsed[0] == utc(2020, 3, 8, 7, 30)
    assert parsed[1] == (
        "2020-03-08 02:30 did not exist in America/New_York (clocks went forward); "
        "it was read as 03:30 EDT",
    )


@pytest.mark.parametrize("value", ["yesterday", "", "27/09/2020", "2020-13-01", "14:52"])
def test_parse_iso_rejects_what_is_not_a_date(value: str) -> None:
    assert parse_iso(value, NEW_YORK, "datePublished") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("23:50", Stamp(23, 50)),
        ("00:05:30", Stamp(0, 5)),
        ("07:15:00.5", Stamp(7, 15)),
        ("24:00", None),
        ("12:60", None),
        ("9:50", None),
        ("23:50Z", None),
        ("2020-09-27", None),
    ],
)
def test_parse_time_of_day(value: str, expected: Stamp | None) -> None:
    assert parse_time_of_day(value) == expected


def test_day_from_url_and_anchor_from_server_date() -> None:
    from dataclasses import replace as _replace

    from aggregator.core.model import ExtractContext
    from aggregator.ingest.extract.times import anchor_time, day_from_url, page_day

    assert day_from_url("https://example.org/news/2020/9/27/clashes-live") == date(2020, 9, 27)
    assert day_from_url("https://example.org/live/2020-09-27-clashes") == date(2020, 9, 27)
    assert day_from_url("https://example.org/live/2020/13/45/x") is None
    assert day_from_url("https://example.org/live?d=2020/9/27") is None
    ctx = ExtractContext(
        source="s",
        page_url="https://example.org/news/2020/9/27/live",
        fetched_at=utc(2026, 1, 1),
        timezone=UTC_ZONE,
    )
    assert page_day(ctx) == date(2020, 9, 27)
    assert page_day(_replace(ctx, day=date(2020, 9, 26))) == date(2020, 9, 26)
    assert anchor_time(ctx) == utc(2026, 1, 1)
    assert anchor_time(_replace(ctx, server_date=utc(2020, 9, 28))) == utc(2020, 9, 28)


def test_text_page_takes_its_day_from_the_url() -> None:
    from aggregator.core.model import ExtractContext
    from aggregator.ingest.extract.liveblog_text import extract

    ctx = ExtractContext(
        source="s",
        page_url="https://example.org/news/2020/9/27/live",
        fetched_at=utc(2026, 1, 1),
        timezone=UTC_ZONE,
    )
    page = extract(b"Live\n\n19:50 GMT - Late update\n\nText.\n\n08:39 GMT - Early\n\nText.\n", ctx)
    assert [e.published for e in page.entries] == [
        utc(2020, 9, 27, 8, 39),
        utc(2020, 9, 27, 19, 50),
    ]
