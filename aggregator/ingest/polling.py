"""When to poll a source next: the politeness policy, as pure arithmetic.

Everything it needs is in the source's projected state, so the answer is the
same in the scheduler, in `aggregator sources` and after a restart:

* a source that has never been polled is due now;
* after a success, the next poll is one interval after the last;
* after N consecutive failures the delay doubles N times, up to a ceiling
  (never below the interval), so a dead server is asked less and less often
  but never dropped; the first success returns it to its interval;
* the server's own pacing (`Retry-After`, `Cache-Control: max-age`, recorded
  as `not_before`) pushes the next poll later, never earlier, and is honoured
  up to the same ceiling, so a hostile "come back in a year" cannot silence a
  source;
* a poll whose work cost B seconds of CPU (extracting a huge page, storing
  a flood; time spent waiting for a worker or the database not counted) is
  followed by at least `PACING` times B seconds without a poll (`paced`): a
  source may take at most a tenth of a core, so a few costly sources cannot
  crowd out the rest of a shared machine.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aggregator.core.states import SourceState

DEFAULT_MAX_BACKOFF = timedelta(hours=1)
_MAX_DOUBLINGS = 32
PACING = 10


def backoff_delay(interval: timedelta, failures: int, ceiling: timedelta) -> timedelta:
    """The wait after `failures` consecutive failures: interval * 2**failures, capped."""
    if failures <= 0:
        return interval
    cap = max(ceiling, interval)
    return min(interval * (1 << min(failures, _MAX_DOUBLINGS)), cap)


def next_poll_at(
    state: SourceState | None,
    interval: timedelta,
    ceiling: timedelta = DEFAULT_MAX_BACKOFF,
) -> datetime | None:
    """The earliest time to poll again; None means "now" (never polled)."""
    if state is None or state.last_polled_at is None:
        return None
    last = state.last_polled_at
    due = last + backoff_delay(interval, state.consecutive_failures, ceiling)
    if state.not_before is not None:
        due = max(due, min(state.not_before, last + max(ceiling, interval)))
    return due


def paced(due: datetime, finished: datetime, busy: timedelta) -> datetime:
    """`due`, or later when the last poll's work (`busy`, ending at `finished`)
    asks for a rest of `PACING` times as long (see the module doc)."""
    return max(due, finished + busy * PACING)
