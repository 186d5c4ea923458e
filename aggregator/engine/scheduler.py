"""Polling every source on its own schedule with APScheduler 3's asyncio scheduler.

The scheduler schedules polls and nothing else: one interval job per source
(`coalesce`, `max_instances=1`, misfire grace near the interval, jitter) on
the engine's event loop, each run a call to `PollEngine.poll`, which bounds
the polls at once and per host and keeps the work off the loop. What follows
a poll's append (stories, publishing) is the follower runner's (see
`follow.runner`), woken by the engine. After each poll the job is moved to the time
`ingest.polling.next_poll_at` gives, which is where backoff after failures and the
server's Retry-After or max-age come in, and no sooner than the poll's own cost
allows (`ingest.polling.paced`); the first run after a start is
taken from the log the same way, so restarting the service neither hammers
a failing source nor forgets that it was asked to wait.

Stopping: no new poll starts; polls in flight get `shutdown_grace` to finish;
any still running are cancelled while they wait on the network (see
`engine.polls`: a cancelled poll appends nothing).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.interval import IntervalTrigger

from aggregator.config import Settings, SourceConfig
from aggregator.core.errors import StoreError
from aggregator.core.states import SourceState
from aggregator.engine.polls import PollEngine
from aggregator.ingest.poll import PollSummary
from aggregator.ingest.polling import next_poll_at, paced
from aggregator.store.base import ReadModel

logger = logging.getLogger("aggregator.scheduler")


class PollScheduler:
    def __init__(
        self,
        settings: Settings,
        engine: PollEngine,
        model: ReadModel,
        clock: Callable[[], datetime],
        jitter: Callable[[float], float] = lambda high: random.uniform(0, high),
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._model = model
        self._clock = clock
        self._jitter = jitter
        self._stopping = False
        self._scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        """Add one job per source and start, on the running event loop."""
        states = await asyncio.to_thread(self._model.sources)
        for source in self.settings.sources:
            self._add_job(source, states.get(source.name))
        self._scheduler.start()
        logger.info("scheduler started", extra={"sources": len(self.settings.sources)})

    def reconfigure(self, settings: Settings) -> dict[str, list[str]]:
        """Follow a reloaded config: add, drop and replace jobs whose source changed.

        A replaced job's first run comes from the log like at a start, so an
        edit never resets a source's backoff. A poll already running for a
        dropped source finishes and is not rescheduled. Safe from any thread:
        APScheduler hands job changes to its event loop.
        """
        old = {s.name: s for s in self.settings.sources}
        new = {s.name: s for s in settings.sources}
        self.settings = settings
        changes: dict[str, list[str]] = {"added": [], "changed": [], "removed": []}
        states = self._model.sources()
        for name, source in new.items():
            if old.get(name) == source:
                continue
            if name in old:
                self._scheduler.remove_job(name)
            self._add_job(source, states.get(name))
            changes["changed" if name in old else "added"].append(name)
        for name in old.keys() - new.keys():
            self._scheduler.remove_job(name)
            changes["removed"].append(name)
        return changes

    def _add_job(self, source: SourceConfig, state: SourceState | None) -> None:
        now = self._clock()
        interval = source.interval.total_seconds()
        due = next_poll_at(state, source.interval, self.settings.service.max_backoff)
        self._scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=interval, jitter=self._jitter_bound(source), timezone=UTC),
            args=[source],
            id=source.name,
            name=f"poll {source.name}",
            next_run_time=max(due or now, now),
            misfire_grace_time=max(1, int(interval * 0.9)),
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop polling; give polls in flight `grace` seconds, then cancel them."""
        if self._scheduler.state == STATE_STOPPED:
            return
        self._stopping = True
        self._scheduler.pause()
        limit = self.settings.service.shutdown_grace.total_seconds() if grace is None else grace
        deadline = time.monotonic() + limit
        while self.in_flight() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        abandoned = await self.engine.cancel()
        self._scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # the shutdown runs on the loop's next turn
        logger.info("scheduler stopped", extra={"abandoned": abandoned})

    @property
    def running(self) -> bool:
        return bool(self._scheduler.state == STATE_RUNNING)

    def in_flight(self) -> list[str]:
        return self.engine.in_flight()

    def next_runs(self) -> dict[str, datetime | None]:
        """When APScheduler will next run each source's job."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    # -- one poll ------------------------------------------------------------

    def _jitter_bound(self, source: SourceConfig) -> float:
        """Configured jitter, but never more than a quarter of the interval."""
        return min(
            self.settings.service.jitter.total_seconds(), source.interval.total_seconds() / 4
        )

    async def _run(self, source: SourceConfig) -> None:
        if self._stopping:
            return
        started = time.perf_counter()
        try:
            summary = await self.engine.poll(source)
        except asyncio.CancelledError:
            return  # abandoned at shutdown; the engine said so
        if summary is None:
            return
        elapsed = time.perf_counter() - started
        when: datetime | None = None
        if summary.error_kind != "store":  # left on its interval: the next poll is the retry
            try:
                when = await asyncio.to_thread(self._reschedule, source, summary.busy)
            except StoreError as exc:
                logger.error("store unavailable", extra={"source": source.name, "error": str(exc)})
        self._log_poll(summary, elapsed, when)

    def _reschedule(self, source: SourceConfig, busy: float) -> datetime | None:
        """Move the job to its next due time; None when there is no job to move."""
        state = self._model.source(source.name)
        due = next_poll_at(state, source.interval, self.settings.service.max_backoff)
        now = self._clock()
        due = paced(max(due or now, now), now, timedelta(seconds=busy))
        when = due + timedelta(seconds=self._jitter(self._jitter_bound(source)))
        if self._stopping:
            return None
        try:
            self._scheduler.modify_job(source.name, next_run_time=when)
        except JobLookupError:
            return None
        return when

    def _log_poll(self, summary: PollSummary, elapsed: float, when: datetime | None) -> None:
        fields: dict[str, object] = {
            "source": summary.source,
            "outcome": summary.outcome,
            "seconds": round(elapsed, 3),
        }
        if when is not None:
            fields["next_poll"] = when.astimezone(UTC).isoformat()
        if summary.error:
            logger.warning(
                "poll failed", extra=fields | {"kind": summary.error_kind, "error": summary.error}
            )
        else:
            logger.info(
                "poll",
                extra=fields
                | {
                    "added": summary.added,
                    "revised": summary.revised,
                    "unchanged": summary.unchanged,
                },
            )
