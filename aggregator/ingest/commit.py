"""Appending polls' events: the polls that finish together share one write.

A poll's store work used to be its own two transactions (append, then fold),
about 5 ms of the 8 ms a 304 poll cost over SQLite, so a round of 1,000
sources spent most of its time committing one or two events at a time. A
`GroupCommit` gathers what polls hand it while a write is under way and
writes the gathered group as one append and one fold: the first poll to
arrive is written at once, and those that arrive meanwhile go in the next
write, however many they are. No poll waits for a timer; under load the
groups grow by themselves (a round of 304s goes down in a few dozen writes).

What each poll is promised does not change with the group it joins:

- its events are appended together, or none of them (the group is one
  transaction, and a group the database refuses is written again poll by
  poll, so one poll's bad event is that poll's `StoreRefused` alone);
- `go_ahead` is asked just before the write, so a poll stopped while it
  waited for its turn appends nothing (`PollAbandoned`);
- it gets back the records written for its own events, already folded
  into the read model (or left for the next catch-up when the database went
  away between the two, as before).

Writes run one at a time on whatever `run_write` hands them to (the engine
passes one thread of its own, so a write never queues behind extractions);
the default runs them on the caller's thread, a group of one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from aggregator.core.errors import PollAbandoned, StoreRefused, StoreUnavailable
from aggregator.core.events import Event, storable
from aggregator.core.states import StoredEvent
from aggregator.store.base import EventLog, ReadModel
from aggregator.store.catchup import fold_appended

logger = logging.getLogger("aggregator.collect")

T = TypeVar("T")


async def _inline(work: Callable[[], T]) -> T:
    return work()


@dataclass(slots=True)
class _Waiting:
    """One poll's events, waiting for the next write."""

    events: Sequence[Event]
    go_ahead: Callable[[], bool]
    done: asyncio.Future[list[StoredEvent]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    """Appends and folds the events of the polls waiting together (see the module doc)."""

    def __init__(
        self,
        log: EventLog,
        model: ReadModel,
        run_write: Callable[[Callable[[], Any]], Awaitable[Any]] = _inline,
    ) -> None:
        self._log = log
        self._model = model
        self._run_write = run_write
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Task[None] | None = None
        self.writes = 0  # groups written, for the figures (`bench`) and the tests

    async def __call__(
        self, events: Sequence[Event], go_ahead: Callable[[], bool] = lambda: True
    ) -> list[StoredEvent]:
        """Append `events` with the group this call joins; the records written for
        them. Raises `PollAbandoned` when `go_ahead` said no, `StoreRefused` when
        the database refused these events, `StoreUnavailable` when it is away."""
        waiting = _Waiting(events, go_ahead)
        self._waiting.append(waiting)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        return await waiting.done

    async def _drain(self) -> None:
        group: list[_Waiting] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                outcomes: list[list[StoredEvent] | BaseException]
                try:
                    outcomes = await self._run_write(partial(self._write, group))
                except Exception as exc:  # a bug, or a store error of another kind:
                    outcomes = [exc] * len(group)  # every poll of the group raises it
                for waiting, outcome in zip(group, outcomes, strict=True):
                    if waiting.done.done():
                        continue  # its poll was cancelled meanwhile
                    if isinstance(outcome, BaseException):
                        waiting.done.set_exception(outcome)
                    else:
                        waiting.done.set_result(outcome)
        finally:
            # Reached with polls unanswered only when this task was cancelled
            # (the loop is closing): whatever the write did, they are told so.
            self._writer = None
            for waiting in (*group, *self._waiting):
                if not waiting.done.done():
                    waiting.done.set_exception(PollAbandoned("the writer was stopped"))
            self._waiting = []

    def _write(self, group: Sequence[_Waiting]) -> list[list[StoredEvent] | Exception]:
        """One group: the records of each poll, or the exception it is to raise."""
        outcomes: list[list[StoredEvent] | Exception] = []
        going: list[tuple[int, Sequence[Event]]] = []
        for waiting in group:
            if waiting.go_ahead():
                going.append((len(outcomes), [storable(e) for e in waiting.events]))
                outcomes.append([])
            else:
                outcomes.append(PollAbandoned("the poll was stopped before its append"))
        self.writes += 1
        try:
            written = self._log.append([e for _, events in going for e in events])
        except StoreRefused as exc:
            if len(going) == 1:
                outcomes[going[0][0]] = exc
                return outcomes
            for index, events in going:  # find whose events were refused
                try:
                    outcomes[index] = self._append_one(events)
                except (StoreRefused, StoreUnavailable) as one:
                    outcomes[index] = one
            return outcomes
        except StoreUnavailable as exc:
            for index, _ in going:
                outcomes[index] = exc
            return outcomes
        self._fold(written)
        by_key = {record.event_key: record for record in written}
        for index, events in going:
            outcomes[index] = [by_key[e.event_key] for e in events if e.event_key in by_key]
        return outcomes

    def _append_one(self, events: Sequence[Event]) -> list[StoredEvent]:
        self.writes += 1
        written = self._log.append(events)
        self._fold(written)
        return written

    def _fold(self, written: list[StoredEvent]) -> None:
        try:
            fold_appended(self._log, self._model, written)
        except StoreUnavailable as exc:
            # The events are in the log, which is what counts; the projection
            # folds them on its next catch-up.
            logger.warning("projection left behind", extra={"error": str(exc)})
