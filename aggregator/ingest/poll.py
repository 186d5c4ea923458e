"""One poll of one source: fetch → extract → diff → events → append.

The diff is a pure function (`plan_poll`) from what was extracted and what the
projection says the source holds now (and which other sources' entries hold
the ids the page gives, one query) to the list of events to append: the
intents are plain values, computed before anything is persisted, which keeps
the decision logic testable without a database. Unchanged entries produce no
event; a changed content hash produces an `EntryRevised` with the next version
number, so a racing collector that saw the same change produces the same event
key and the log keeps one copy.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from aggregator.config import SourceConfig
from aggregator.core.errors import (
    ExtractError,
    FetchError,
    PollAbandoned,
    StoreError,
    StoreRefused,
)
from aggregator.core.events import Event, SourceFailed, SourceNotModified, SourcePolled
from aggregator.core.model import ExtractContext, Format, Page
from aggregator.ingest.commit import GroupCommit
from aggregator.ingest.fetch import Fetcher, FetchResult
from aggregator.ingest.plan import given_ids, plan_poll
from aggregator.ingest.workers import SHARED, ExtractPool
from aggregator.store.base import EventLog, ReadModel

logger = logging.getLogger("aggregator.collect")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PollSummary:
    """What one poll did, for the per-source line `collect` prints."""

    source: str
    added: int = 0
    revised: int = 0
    unchanged: int = 0
    not_modified: bool = False
    error: str | None = None
    error_kind: str | None = None
    appended: int = 0
    busy: float = 0.0  # CPU seconds of the poll's work (extract, plan, store), for pacing

    @property
    def outcome(self) -> str:
        """The same outcome names the source projection uses."""
        return "failed" if self.error else "not-modified" if self.not_modified else "ok"


def source_context(
    source: SourceConfig,
    fetched_at: datetime,
    content_type: str | None = None,
    server_date: datetime | None = None,
) -> ExtractContext:
    """What the extractor is told about a fetch of `source` (the fixture builds the same)."""
    return ExtractContext(
        source=source.name,
        page_url=source.link,
        fetched_at=fetched_at,
        timezone=source.timezone,
        day=source.day,
        start=source.start,
        author=source.author,
        content_type=content_type,
        server_date=server_date,
        selectors=source.selectors,
        max_entries=source.max_entries_per_poll,
    )


def read_page(
    source: SourceConfig,
    fetched: FetchResult,
    fmt: Format | None = None,
    extractors: ExtractPool = SHARED,
) -> Page:
    """The page a fetch of `source` holds, read as `fmt` (default: the source's format).

    The one read step of a poll and of `aggregator try`, in one of the
    `extractors`' worker processes, under their CPU budget (`ingest.workers`).
    A page that trips a bug in an extractor is that source's failure, not the
    service's: it comes out as an `ExtractorCrashed` (the traceback goes to
    the log); one that takes too long as an `ExtractionOverBudget`.
    """
    context = source_context(source, fetched.fetched_at, fetched.content_type, fetched.server_date)
    return extractors.extract(fetched.body, context, fmt or source.format)


async def _inline(work: Callable[[], T]) -> T:
    """Run `work` on the caller's thread (the default for `poll_source`)."""
    return work()


async def poll_source(
    source: SourceConfig,
    fetcher: Fetcher,
    log: EventLog,
    model: ReadModel,
    clock: Callable[[], datetime],
    new_poll_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    earlier: Sequence[Event] = (),
    run_sync: Callable[[Callable[[], Any]], Awaitable[Any]] = _inline,
    go_ahead: Callable[[], bool] = lambda: True,
    extractors: ExtractPool = SHARED,
    commit: GroupCommit | None = None,
) -> PollSummary:
    """Poll once and append the outcome; a source's failures are recorded, never raised.

    `earlier` holds events of past polls that could not be stored (the
    database was down); they go first in this poll's one append. Every event
    passes `storable` first, and a write the database still refuses for what
    it holds (`StoreRefused`) is recorded as this poll's failure instead. Only
    `StoreError` escapes: then nothing of this poll was appended, or all of it
    was and only the projection is behind (it catches up on the next read).

    Only the fetch waits on the event loop. Reading the source's state,
    extracting and planning are blocking store and CPU work, handed to
    `run_sync`: the engine passes its worker threads, so a poll never blocks
    the loop that serves HTTP; the default runs it inline. The page is read
    by `extractors` (the engine passes its own pool). The append and the fold
    go to `commit`, which writes the events of the polls that finish together
    in one transaction (`ingest.commit`; by default a commit of this poll
    alone, inline). Work on a thread goes on when the poll's task is
    cancelled, so the append asks `go_ahead` first. A poll stopped either way
    (its extraction killed, or told not to go ahead) raises `PollAbandoned`
    and appends nothing.
    """
    poll_id = new_poll_id()
    attempted_at = clock()
    state = await run_sync(lambda: model.source(source.name))
    try:
        fetched: FetchResult | FetchError = await fetcher.fetch(
            source.url,
            etag=state.etag if state else None,
            last_modified=state.last_modified if state else None,
        )
    except FetchError as exc:
        fetched = exc

    def prepare() -> tuple[list[Event], PollSummary]:
        # CPU time, not wall time: a poll waiting for a worker or the database
        # is not costly, only slowed by others (see `ingest.polling.paced`).
        started = time.thread_time()
        extractors.spent()
        events, summary = _outcome(source, fetched, model, poll_id, attempted_at, extractors)
        busy = time.thread_time() - started + extractors.spent()
        return [*earlier, *events], replace(summary, busy=busy)

    prepared: tuple[list[Event], PollSummary] = await run_sync(prepare)
    events, summary = prepared
    commit = commit or GroupCommit(log, model, run_sync)
    try:
        written = await commit(events, go_ahead)
    except StoreRefused as exc:
        # What this poll held was refused, so writing it again would be too:
        # the poll is recorded as failed instead, and backs off like any other.
        failed = _failed(source, poll_id, attempted_at, "store-refused", str(exc), exc)
        summary = PollSummary(source.name, error=str(exc), error_kind="store-refused")
        written = await commit([*earlier, failed], go_ahead)
    return replace(summary, appended=len(written))


def _outcome(
    source: SourceConfig,
    fetched: FetchResult | FetchError,
    model: ReadModel,
    poll_id: str,
    attempted_at: datetime,
    extractors: ExtractPool,
) -> tuple[list[Event], PollSummary]:
    """What one fetch comes to: the events to append, and the poll's summary."""
    try:
        if isinstance(fetched, FetchError):
            raise fetched
        if fetched.not_modified:
            unchanged = SourceNotModified(
                source=source.name,
                poll_id=poll_id,
                fetched_at=fetched.fetched_at,
                not_before=fetched.not_before,
            )
            return [unchanged], PollSummary(source.name, not_modified=True)
        page = read_page(source, fetched, extractors=extractors)
        current = model.digests(source.name)
        owners = model.owners(given_ids(page, current))
        events = plan_poll(source, page, current, fetched, poll_id, owners)
        polled = events[-1]
        assert isinstance(polled, SourcePolled)
        return events, PollSummary(source.name, polled.added, polled.revised, polled.unchanged)
    except (FetchError, ExtractError) as exc:
        failed = _failed(source, poll_id, attempted_at, exc.kind, str(exc), exc)
        return [failed], PollSummary(source.name, error=str(exc), error_kind=exc.kind)
    except (StoreError, PollAbandoned):
        raise
    except Exception as exc:
        # A bug past extraction (in the plan) is still that source's failure.
        logger.exception("polling %s raised", source.name)
        reason = f"internal error: {type(exc).__name__}: {exc}"[:500]
        failed = _failed(source, poll_id, attempted_at, "internal", reason, exc)
        return [failed], PollSummary(source.name, error=reason, error_kind="internal")


def _failed(
    source: SourceConfig, poll_id: str, when: datetime, kind: str, reason: str, exc: Exception
) -> SourceFailed:
    return SourceFailed(
        source=source.name,
        poll_id=poll_id,
        fetched_at=when,
        kind=kind,
        reason=reason,
        not_before=exc.not_before if isinstance(exc, FetchError) else None,
        http_status=exc.status if isinstance(exc, FetchError) else None,
    )
