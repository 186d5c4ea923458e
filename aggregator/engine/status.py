"""Where each configured source stands: one builder for every report of it.

`aggregator sources`, `/healthz` and `/metrics` all show a source's last poll,
outcome, failures, entries and next poll. They get them from here, so the
three agree, and the next poll follows one rule: the time the scheduler has
planned, when a scheduler has planned one, else the earliest time the
politeness policy allows (`ingest.polling.next_poll_at`), None meaning "due now".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from aggregator.config import Settings
from aggregator.core.states import SourceState
from aggregator.ingest.polling import next_poll_at

_UNPLANNED: Mapping[str, datetime | None] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SourceStatus:
    name: str
    # False while the log holds nothing about the source (never polled, no
    # entries): the other fields are then the defaults, and /metrics shows no
    # series for it rather than zeros.
    in_log: bool
    last_poll: datetime | None
    last_success: datetime | None
    outcome: str | None
    # For a person (it may name paths: it stays in the log and `sources`)...
    error: str | None
    # ...and for a check: the failure's kind ("no-updates", "timeout", ...)
    # while the last poll failed, else None.
    error_kind: str | None
    failures: int
    entries: int
    next_poll: datetime | None
    polling: bool


def source_statuses(
    settings: Settings,
    states: Mapping[str, SourceState],
    scheduled: Mapping[str, datetime | None] = _UNPLANNED,
    in_flight: Collection[str] = (),
) -> list[SourceStatus]:
    """One status per source of `settings`, in its order, from the projected
    `states`; `scheduled` and `in_flight` are what a running scheduler knows
    (its next run per source, the sources being polled now)."""
    polling = frozenset(in_flight)
    statuses = []
    for source in settings.sources:
        known = states.get(source.name)
        state = known or SourceState(name=source.name)
        due = scheduled.get(source.name) or next_poll_at(
            state, source.interval, settings.service.max_backoff
        )
        statuses.append(
            SourceStatus(
                name=source.name,
                in_log=known is not None,
                last_poll=state.last_polled_at,
                last_success=state.last_success_at,
                outcome=state.last_outcome,
                error=state.last_error,
                error_kind=state.last_error_kind,
                failures=state.consecutive_failures,
                entries=state.entry_count,
                next_poll=due,
                polling=source.name in polling,
            )
        )
    return statuses


__all__ = ["SourceStatus", "source_statuses"]
