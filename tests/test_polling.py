"""The next-poll policy: backoff, recovery and the server's own pacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.core.states import SourceState
from aggregator.ingest.polling import PACING, backoff_delay, next_poll_at, paced

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FIVE = timedelta(minutes=5)
HOUR = timedelta(hours=1)


def state(failures: int = 0, not_before: datetime | None = None) -> SourceState:
    return SourceState(
        name="s", last_polled_at=T0, consecutive_failures=failures, not_before=not_before
    )


def test_never_polled_is_due_now() -> None:
    assert next_poll_at(None, FIVE) is None
    assert next_poll_at(SourceState(name="s"), FIVE) is None


def test_success_polls_again_after_one_interval() -> None:
    assert next_poll_at(state(), FIVE) == T0 + FIVE


def test_failures_double_the_wait_up_to_the_ceiling_and_never_stop() -> None:
    waits = [backoff_delay(FIVE, n, HOUR) for n in range(8)]
    assert [w.total_seconds() / 60 for w in waits] == [5, 10, 20, 40, 60, 60, 60, 60]
    assert backoff_delay(FIVE, 10_000, HOUR) == HOUR  # no overflow, still polled hourly
    # A ceiling below the interval never makes a failing source polled faster.
    assert backoff_delay(HOUR, 3, FIVE) == HOUR
    assert next_poll_at(state(failures=2), FIVE, HOUR) == T0 + 4 * FIVE


def test_recovery_is_immediate_after_a_success() -> None:
    # The projection resets consecutive_failures on success; the policy follows.
    assert next_poll_at(state(failures=0), FIVE, HOUR) == T0 + FIVE


def test_server_pacing_pushes_later_never_earlier() -> None:
    later = T0 + timedelta(minutes=12)
    assert next_poll_at(state(not_before=later), FIVE) == later
    sooner = T0 + timedelta(minutes=1)
    assert next_poll_at(state(not_before=sooner), FIVE) == T0 + FIVE
    # Backoff and Retry-After together: the later of the two.
    assert next_poll_at(state(failures=3, not_before=later), FIVE, HOUR) == T0 + 8 * FIVE


def test_server_pacing_is_capped_by_the_ceiling() -> None:
    year = T0 + timedelta(days=365)
    assert next_poll_at(state(not_before=year), FIVE, HOUR) == T0 + HOUR


def test_a_costly_poll_rests_ten_times_its_work() -> None:
    """A huge page costing 7 s of work per poll on a 2 s interval kept a worker
    busy all the time; its next poll now waits ten times what the last cost."""
    due = T0 + timedelta(seconds=2)
    assert paced(due, T0, timedelta(seconds=7)) == T0 + timedelta(seconds=7 * PACING)
    # A cheap poll keeps its interval.
    assert paced(due, T0, timedelta(milliseconds=20)) == due
