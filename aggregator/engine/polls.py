"""The poll engine: every poll of every command goes through one `PollEngine`.

`aggregator collect`, `run --collector-only` and `run` all poll with one
engine on one asyncio event loop: one `Fetcher` (one long-lived
`httpx.AsyncClient` whose pool holds at most `fetches` connections) shared
by every poll, one per-host limit and one bound on polls at once (`fetches`). `collect`
asks it for every chosen source once (`poll_each`); the scheduler asks it
for one source whenever that source is due (`poll`). Nothing here builds an
event loop or a client per poll: a poll of 304s then costs a request on a
kept-alive connection, not a TLS handshake and a new pool.

A poll waits for its host's limit before it takes one of the `fetches`
slots, so polls queued behind one slow host never hold a slot another host
could use. Only the fetch has to run on the loop; reading the source's state,
extracting and planning are blocking work (see `ingest.poll.poll_source`),
run on the engine's `workers` threads, so the loop stays free for the web
server that shares it, and a poll holds a thread only while it has work for
one: a server that takes 50 s to answer costs a slot of the many `fetches`,
never one of the few threads (three slow servers once held every worker,
and the other sources waited as long as they did). Pages are read in the
engine's `ExtractPool`, one process per thread, so `collect` reads as many
pages at once as the machine has workers for. The appends and folds go
down one `GroupCommit` (`ingest.commit`) on a writer thread of their own:
the polls that finish while a write is under way share the next one, so a
round of 1,000 polls is a few hundred transactions, not 2,000. Appends go
in the order the polls finish, under `collect` as under the service.

A database that goes away does not stop the engine: the log's append is
retried (see `store.sql`), and a poll that still could not be stored is
reported as a failed poll of kind `store` and written to the log as one
`SourceFailed` per source and outage, in the same append as that source's
first poll after the database answers again.

Cancelling a poll (the scheduler does, at shutdown) stops it while it waits
on the network, and tells its work on a worker thread, which cannot be
stopped from outside, not to append: a poll appends its events in one
transaction after its last network wait and asks first whether it still
may, so a cancelled poll appends nothing and a finished one appends
everything. Cancelling also stops the extraction workers (`ingest.workers`):
a poll whose thread is still reading its page is abandoned there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aggregator.config import ServiceConfig, SourceConfig
from aggregator.core.errors import PollAbandoned, StoreError, StoreUnavailable
from aggregator.core.events import SourceFailed, format_time
from aggregator.ingest.commit import GroupCommit
from aggregator.ingest.fetch import Fetcher
from aggregator.ingest.poll import PollSummary, poll_source
from aggregator.ingest.workers import ExtractPool
from aggregator.store.base import EventLog, ReadModel
from aggregator.store.catchup import catch_up

logger = logging.getLogger("aggregator.engine")

T = TypeVar("T")


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


class HostLimits:
    """At most `per_host` polls of one host at once, and `polls` in all.

    The host's turn is waited for first, then a slot of `polls`: a slot is only
    ever held by a poll that may go ahead. Local files count as one host.
    """

    def __init__(self, per_host: int, polls: int) -> None:
        self._per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._polls = asyncio.Semaphore(polls)

    @asynccontextmanager
    async def turn(self, url: str) -> AsyncIterator[None]:
        host = urlsplit(url).netloc.lower() or "(local files)"
        semaphore = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        async with semaphore, self._polls:
            yield


class PollEngine:
    """Polls sources on the running event loop; see the module docstring.

    `on_poll(summary, seconds)` hears of every poll that ran to an outcome
    (the metrics); `on_append(summary)` of every poll that added or revised
    entries (the follower runner's wake-up call). Neither may block.
    """

    def __init__(
        self,
        service: ServiceConfig,
        log: EventLog,
        model: ReadModel,
        clock: Callable[[], datetime],
        fetcher: Fetcher | None = None,
        on_poll: Callable[[PollSummary, float], None] = lambda summary, seconds: None,
        on_append: Callable[[PollSummary], None] = lambda summary: None,
    ) -> None:
        self._log = log
        self._model = model
        self._clock = clock
        self._fetcher = fetcher or Fetcher(clock=clock, connections=service.fetches)
        self._on_poll = on_poll
        self._on_append = on_append
        self._limits = HostLimits(service.per_host, service.fetches)
        self._threads = ThreadPoolExecutor(service.workers, thread_name_prefix="poll")
        # One writer of its own: a group's write never queues behind extractions.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="commit")
        self.commit = GroupCommit(log, model, self._in_writer)
        self._extractors = ExtractPool.for_service(service)
        # Each poll in flight: its task, and the flag that tells its thread not to append.
        self._running: dict[str, tuple[asyncio.Task[Any], threading.Event]] = {}
        self._outages: dict[str, _StoreOutage] = {}

    async def poll_each(
        self,
        sources: Sequence[SourceConfig],
        progress: Callable[[PollSummary], None] | None = None,
    ) -> list[PollSummary]:
        """Poll each source once (what `collect` does); summaries in the order of
        `sources`. A poll the store refused raises its `StoreError`."""
        await self._in_thread(lambda: catch_up(self._log, self._model))

        async def one(source: SourceConfig) -> PollSummary:
            summary = await self._poll(source)
            if summary.error_kind == "store":
                raise StoreUnavailable(summary.error or "the database did not answer")
            if progress is not None:
                progress(summary)
            return summary

        return list(await asyncio.gather(*(one(source) for source in sources)))

    async def poll(self, source: SourceConfig) -> PollSummary | None:
        """Poll `source` once; None when the poll crashed, the store refused it or
        its extraction was abandoned (all logged). A cancelled poll appends
        nothing and re-raises."""
        try:
            return await self._poll(source)
        except PollAbandoned:
            logger.warning("poll abandoned; nothing appended", extra={"source": source.name})
        except StoreError as exc:
            logger.error("store refused the poll", extra={"source": source.name, "error": str(exc)})
        except Exception:
            logger.exception("poll crashed", extra={"source": source.name})
        return None

    async def _poll(self, source: SourceConfig) -> PollSummary:
        async with self._limits.turn(source.url):
            task = asyncio.current_task()
            assert task is not None
            abandoned = threading.Event()
            self._running[source.name] = (task, abandoned)
            started = time.perf_counter()
            attempted_at = self._clock()
            outage = self._outages.get(source.name)
            try:
                summary = await poll_source(
                    source,
                    self._fetcher,
                    self._log,
                    self._model,
                    self._clock,
                    new_poll_id=lambda: uuid.uuid4().hex,
                    earlier=[outage.event(source.name)] if outage is not None else [],
                    run_sync=self._in_thread,
                    go_ahead=lambda: not abandoned.is_set(),
                    extractors=self._extractors,
                    commit=self.commit,
                )
            except asyncio.CancelledError:
                logger.warning("poll abandoned; nothing appended", extra={"source": source.name})
                raise
            except StoreUnavailable as exc:
                # Left on its interval: the next poll is the retry.
                self._note_outage(source.name, attempted_at, str(exc))
                summary = PollSummary(source.name, error=str(exc), error_kind="store")
            else:
                if outage is not None:
                    self._outages.pop(source.name, None)
            finally:
                self._running.pop(source.name, None)
            elapsed = time.perf_counter() - started
        self._on_poll(summary, elapsed)
        if summary.added or summary.revised:
            self._on_append(summary)
        return summary

    async def _in_thread(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work)

    async def _in_writer(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, work)

    def _note_outage(self, source: str, when: datetime, error: str) -> None:
        outage = self._outages.get(source)
        self._outages[source] = (
            outage.then(when, error)
            if outage is not None
            else _StoreOutage(uuid.uuid4().hex, when, when, 1, error)
        )

    def in_flight(self) -> list[str]:
        """The sources being polled now (waiting for their turn not included)."""
        return sorted(self._running)

    async def cancel(self) -> int:
        """Cancel every poll in flight and wait until each has left; return how many.

        The extraction workers are stopped too (`terminate`): a poll whose
        thread is still reading its page then appends nothing.
        """
        polls = list(self._running.items())
        for name, (task, abandoned) in polls:
            logger.warning("abandoning poll at shutdown", extra={"source": name})
            abandoned.set()
            task.cancel()
        self.terminate()
        await asyncio.gather(*(task for _, (task, _) in polls), return_exceptions=True)
        return len(polls)

    def terminate(self) -> None:
        """Stop every extraction worker: a page being read, or read after this,
        raises `PollAbandoned` and its poll records nothing."""
        self._extractors.close()

    async def aclose(self) -> None:
        """Close the client, stop the extraction workers and let the worker
        threads finish what they hold."""
        await self._fetcher.aclose()
        self.terminate()
        await asyncio.to_thread(self._threads.shutdown, True)
        await asyncio.to_thread(self._writer.shutdown, True)


async def collect_once(
    service: ServiceConfig,
    sources: Sequence[SourceConfig],
    log: EventLog,
    model: ReadModel,
    clock: Callable[[], datetime],
    progress: Callable[[PollSummary], None] | None = None,
    fetcher: Fetcher | None = None,
) -> list[PollSummary]:
    """`aggregator collect`'s polling: every chosen source, once, through one engine."""
    engine = PollEngine(service, log, model, clock, fetcher)
    try:
        return await engine.poll_each(sources, progress)
    finally:
        await engine.aclose()
