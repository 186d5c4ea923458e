"""Every error the aggregator raises on purpose derives from `AggregatorError`.

    AggregatorError
    ├── ConfigError          a config file, key or value is wrong (names all three)
    ├── FetchError           a source could not be fetched
    │   ├── SourceNotFound       file missing, HTTP 404/410
    │   ├── SourceUnreadable     permission denied, not a regular file
    │   ├── FetchTimeout         connect, read or the whole fetch took too long
    │   ├── HTTPStatusError      any other non-success HTTP status
    │   └── BodyTooLarge         body exceeded the configured cap while streaming
    ├── ExtractError         bytes were fetched but hold no usable entries
    │   ├── NoUpdates            the page parsed, but no reading found a single update
    │   ├── ExtractorCrashed     a page tripped a bug in an extractor (kind "internal")
    │   └── ExtractionOverBudget reading the page took more CPU time than its budget
    ├── PollAbandoned        the engine stopped a poll midway (shutdown): nothing is recorded
    └── StoreError           the event log or projections refused an operation
        ├── StoreUnavailable     the database did not answer or dropped the connection
        ├── StoreRefused         the database refused a write for what it held
        └── AppendOnlyViolation  something tried to change or delete an event

Collectors catch `FetchError` and `ExtractError` per source and record them as
`SourceFailed` events, so one bad source never stops the others; a
`PollAbandoned` poll is recorded as nothing at all, as if it had not begun. A
poll's append that raises `StoreRefused` is that source's failure too: the
poll records a `SourceFailed` of kind "store-refused" in its place.
`ConfigError` and any other `StoreError` are fatal to a one-shot command. The service outlives a
`StoreUnavailable`: appends are idempotent, so it retries them, and a poll
that still could not be stored is recorded once the database answers again.
"""

from __future__ import annotations

from datetime import datetime


class AggregatorError(Exception):
    """Base class: the message is meant for the person running the command."""


class ConfigError(AggregatorError):
    """A configuration problem, located by file and key."""

    def __init__(self, path: str, key: str | None, problem: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}")


class FetchError(AggregatorError):
    """A source could not be fetched; `reason` is short and human-readable.

    `not_before` is when the server asked us to come back (Retry-After), if it
    said; it is recorded with the failure so every scheduler honours it.
    """

    kind = "fetch"

    def __init__(
        self, reason: str, not_before: datetime | None = None, status: int | None = None
    ) -> None:
        self.reason = reason
        self.not_before = not_before
        self.status = status  # the HTTP status, when the failure was a server's answer
        super().__init__(reason)


class SourceNotFound(FetchError):
    kind = "not-found"


class SourceUnreadable(FetchError):
    kind = "unreadable"


class FetchTimeout(FetchError):
    kind = "timeout"


class HTTPStatusError(FetchError):
    kind = "http-status"


class BodyTooLarge(FetchError):
    kind = "too-large"


class ExtractError(AggregatorError):
    """The fetched bytes could not be turned into entries."""

    kind = "extract"


class NoUpdates(ExtractError):
    """A page that was read fine but yields no update: a failure, never an empty success.

    The message lists what each reading looked for, so `aggregator try`, the
    log and `/healthz` all say why the page gave nothing.
    """

    kind = "no-updates"


class ExtractorCrashed(ExtractError):
    """An extractor raised something it should not have: a bug met on this page.

    It fails the page's source like any extraction failure (kind "internal"),
    never the poll loop; the traceback is in the log.
    """

    kind = "internal"


class ExtractionOverBudget(ExtractError):
    """The page took more CPU time to read than `[service] extract_budget` allows.

    The worker reading it was killed (see `ingest.workers`); the source fails
    like any extraction failure, so backoff spaces out the next attempts.
    """

    kind = "budget"


class PollAbandoned(AggregatorError):
    """A poll was stopped midway because the engine is stopping.

    Not a failure of the source: the poll records nothing, neither entries nor
    a `SourceFailed`, and the next start polls the source afresh.
    """


class StoreError(AggregatorError):
    """The storage layer refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The database could not be reached, or went away mid-transaction.

    Whatever was in flight was rolled back, or committed just before the
    connection dropped; either way, repeating an append is safe (its event
    keys are unique), so callers may retry.
    """


class StoreRefused(StoreError):
    """The database refused a write for what it held (a constraint, a value it
    cannot take), not for being away: repeating the same write fails again,
    so the poll that wrote it is recorded as failed instead (kind "store-refused")."""


class AppendOnlyViolation(StoreError):
    """An update or delete of an event row was attempted."""
