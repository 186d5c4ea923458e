"""Polling every source on its own schedule with APScheduler 3.

One interval job per source (`coalesce`, `max_instances=1`, misfire grace
near the interval, jitter), run in a small thread pool so that a slow source
never delays another and the web server's event loop never runs a poll.
After each poll the job is moved to the time `polling.next_poll_at` gives,
which is where backoff after failures and the server's Retry-After or
max-age come in; the first run after a start is taken from the log the same
way, so restarting the service neither hammers a failing source nor forgets
that it was asked to wait.

A per-host semaphore bounds how many polls hit one server at once, whatever
the pool size. Each poll runs its own short event loop for httpx.

A database that goes away does not stop the service: the log's append is
retried (see `store.sql`), and a poll that still could not be stored is
counted as a failed poll of kind `store`, left on its interval, and written
to the log as one `SourceFailed` per source and outage, in the same append
as that source's first poll after the database answers again.

Stopping: no new poll starts; polls in flight get `shutdown_grace` to finish;
any still running are cancelled while they wait on the network. A poll
appends its events in one transaction after its last network wait, so a
cancelled poll appends nothing and a finished one appends everything.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.interval import IntervalTrigger

from aggregator.collect import PollSummary, poll_source
from aggregator.config import Settings, SourceConfig
from aggregator.errors import StoreError, StoreUnavailable
from aggregator.events import SourceFailed, format_time
from aggregator.fetch import Fetcher
from aggregator.metrics import Metrics
from aggregator.polling import next_poll_at
from aggregator.publish.live import Publisher
from aggregator.store.base import EventLog, ReadModel, SourceState
from aggregator.stories.linker import StoryLinker

logger = logging.getLogger("aggregator.scheduler")

# How long a stop waits, beyond the grace, for jobs to leave after cancellation.
_SETTLE_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class _StoreOutage:
    """One source's polls that the database could not take, summed up for the log."""

    poll_id: str
    first: datetime
    last: datetime
    polls: int
    error: str

    def then(self, when: datetime, error: str) -> _StoreOutage:
        return replace(self, last=when, polls=self.polls + 1, error=error)

    def event(self, source: str) -> SourceFailed:
        span = f"at {format_time(self.first)}"
        if self.polls > 1:
            span = (
                f"for {self.polls} polls from {format_time(self.first)} to {format_time(self.last)}"
            )
        return SourceFailed(
            source=source,
            poll_id=self.poll_id,
            fetched_at=self.first,
            kind="store",
            reason=f"not recorded when polled {span}: {self.error}"[:500],
        )


class _HostLimits:
    """One bounded semaphore per host, created on first use."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    def for_url(self, url: str) -> threading.BoundedSemaphore:
        host = urlsplit(url).netloc.lower() or "(local files)"
        with self._lock:
            if host not in self._semaphores:
                self._semaphores[host] = threading.BoundedSemaphore(self._per_host)
            return self._semaphores[host]


class PollScheduler:
    def __init__(
        self,
        settings: Settings,
        log: EventLog,
        model: ReadModel,
        publisher: Publisher,
        metrics: Metrics,
        clock: Callable[[], datetime],
        fetcher_factory: Callable[[], Fetcher] | None = None,
        jitter: Callable[[float], float] = lambda high: random.uniform(0, high),
    ) -> None:
        self.settings = settings
        self._log = log
        self._model = model
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock
        self._new_fetcher = fetcher_factory or (lambda: Fetcher(clock=clock))
        self._jitter = jitter
        self._limits = _HostLimits(settings.service.per_host)
        self._running: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[PollSummary]]] = {}
        self._running_lock = threading.Lock()
        self._outages: dict[str, _StoreOutage] = {}
        self._linker = StoryLinker()
        self._stopping = threading.Event()
        self._active = 0
        self._idle = threading.Condition()
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(settings.service.workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        states = self._model.sources()
        for source in self.settings.sources:
            self._add_job(source, states.get(source.name))
        self._scheduler.start()
        logger.info("scheduler started", extra={"sources": len(self.settings.sources)})

    def reconfigure(self, settings: Settings) -> dict[str, list[str]]:
        """Follow a reloaded config: add, drop and replace jobs whose source changed.

        A replaced job's first run comes from the log like at a start, so an
        edit never resets a source's backoff. A poll already running for a
        dropped source finishes and is not rescheduled.
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

    def stop(self, grace: float | None = None) -> None:
        """Stop polling; give polls in flight `grace` seconds, then cancel them."""
        if self._scheduler.state == STATE_STOPPED:
            return
        self._stopping.set()
        self._scheduler.pause()
        limit = self.settings.service.shutdown_grace.total_seconds() if grace is None else grace
        deadline = time.monotonic() + limit
        while self.in_flight() and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._running_lock:
            abandoned = list(self._running.items())
        for name, (loop, task) in abandoned:
            logger.warning("abandoning poll at shutdown", extra={"source": name})
            loop.call_soon_threadsafe(task.cancel)
        # APScheduler's shutdown holds its job-store lock while it joins the
        # pool, so a job still about to reschedule itself would deadlock it:
        # wait until every job has left `_run` first.
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=limit + _SETTLE_TIMEOUT)
        self._scheduler.shutdown(wait=True)
        logger.info("scheduler stopped", extra={"abandoned": len(abandoned)})

    @property
    def running(self) -> bool:
        return bool(self._scheduler.state == STATE_RUNNING)

    def in_flight(self) -> list[str]:
        with self._running_lock:
            return sorted(self._running)

    def next_runs(self) -> dict[str, datetime | None]:
        """When APScheduler will next run each source's job."""
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    # -- one poll ------------------------------------------------------------

    def _jitter_bound(self, source: SourceConfig) -> float:
        """Configured jitter, but never more than a quarter of the interval."""
        return min(
            self.settings.service.jitter.total_seconds(), source.interval.total_seconds() / 4
        )

    def _run(self, source: SourceConfig) -> None:
        with self._idle:
            self._active += 1
        try:
            self._run_once(source)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _run_once(self, source: SourceConfig) -> None:
        if self._stopping.is_set():
            return
        with self._limits.for_url(source.url):
            if self._stopping.is_set():
                return
            started = time.perf_counter()
            attempted_at = self._clock()
            try:
                summary = asyncio.run(self._poll(source))
            except asyncio.CancelledError:
                logger.warning("poll abandoned; nothing appended", extra={"source": source.name})
                return
            except StoreUnavailable as exc:
                # Left on its interval: the next poll is the retry.
                self._note_outage(source.name, attempted_at, str(exc))
                summary = PollSummary(source.name, error=str(exc), error_kind="store")
                elapsed = time.perf_counter() - started
                self._metrics.record_poll(summary, elapsed)
                self._log_poll(summary, elapsed, None)
                return
            except StoreError as exc:
                logger.error(
                    "store refused the poll", extra={"source": source.name, "error": str(exc)}
                )
                return
            except Exception:
                logger.exception("poll crashed", extra={"source": source.name})
                return
            elapsed = time.perf_counter() - started
        self._metrics.record_poll(summary, elapsed)
        when: datetime | None = None
        try:
            if summary.added:
                self._link_stories(source.name)
            if summary.added or summary.revised:
                self._publisher.refresh()
            when = self._reschedule(source)
        except StoreError as exc:
            logger.error("store unavailable", extra={"source": source.name, "error": str(exc)})
        self._log_poll(summary, elapsed, when)

    def _link_stories(self, source: str) -> None:
        """Record the stories the new entries joined. A failure here is logged and
        left: the entries are stored, and the next poll's linking picks them up."""
        try:
            linked = self._linker.link(self._log, self._model)
        except StoreUnavailable as exc:
            logger.warning("stories not linked", extra={"source": source, "error": str(exc)})
            return
        except Exception:
            logger.exception("linking stories crashed", extra={"source": source})
            return
        if linked:
            logger.info("stories linked", extra={"source": source, "entries": len(linked)})

    def _note_outage(self, source: str, when: datetime, error: str) -> None:
        with self._running_lock:
            outage = self._outages.get(source)
            self._outages[source] = (
                outage.then(when, error)
                if outage is not None
                else _StoreOutage(uuid.uuid4().hex, when, when, 1, error)
            )

    async def _poll(self, source: SourceConfig) -> PollSummary:
        task = asyncio.current_task()
        assert task is not None
        with self._running_lock:
            self._running[source.name] = (asyncio.get_running_loop(), task)
        fetcher = self._new_fetcher()
        with self._running_lock:
            outage = self._outages.get(source.name)
        earlier = [outage.event(source.name)] if outage is not None else []
        try:
            summary = await poll_source(
                source, fetcher, self._log, self._model, self._clock, earlier=earlier
            )
            if outage is not None:
                with self._running_lock:
                    self._outages.pop(source.name, None)
            return summary
        finally:
            with self._running_lock:
                self._running.pop(source.name, None)
            await fetcher.aclose()

    def _reschedule(self, source: SourceConfig) -> datetime | None:
        """Move the job to its next due time; None when there is no job to move."""
        state = self._model.source(source.name)
        due = next_poll_at(state, source.interval, self.settings.service.max_backoff)
        now = self._clock()
        when = max(due or now, now) + timedelta(seconds=self._jitter(self._jitter_bound(source)))
        if self._stopping.is_set():
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
