"""What the log stores and what it folds into: the stored record, the entry and
source states, and the narrow view of a read model the fold writes through."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol

from aggregator.core.events import Event, from_payload


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """The one record shape of the log: an event plus where and when it landed."""

    position: int
    event_key: str
    type: str
    schema_version: int
    recorded_at: datetime
    source: str
    payload: str

    def event(self) -> Event:
        return from_payload(self.type, self.schema_version, self.payload)


@dataclass(frozen=True, slots=True)
class EntryState:
    """An entry as it stands after the events folded so far."""

    source: str
    key: str
    entry_id: str
    version: int
    title: str
    content_html: str
    published: datetime
    updated: datetime
    link: str | None
    author: str | None
    content_hash: str
    position: int
    categories: tuple[str, ...] = ()
    story: str | None = None
    # The entry's place in the order entries first appeared in the log (1 for
    # the first entry ever added): fixed by its first event, whatever revisions
    # or late publication times follow, so the archive page it is filed on
    # (`publish.archive`) never changes.
    arrival: int = 0
    # The last position that changed this entry's state: its latest version,
    # or a later `StoryLinked` (which leaves `position` alone). What tells the
    # publisher which archive pages a stretch of the log touched.
    changed: int = 0
    # When the log recorded the entry's latest version (the `recorded_at` of
    # the event at `position`): what a poll's damping of revisions measures
    # from (`ingest.plan`), read from the log so a replay decides the same.
    recorded_at: datetime | None = None


class RecordedEntry(Protocol):
    """What a poll's diff needs to know of an entry already in the log."""

    @property
    def entry_id(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def content_hash(self) -> str: ...

    @property
    def updated(self) -> datetime: ...

    @property
    def recorded_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class EntryDigest:
    """A `RecordedEntry` without the content: cheap to read for every entry of a source."""

    entry_id: str
    version: int
    content_hash: str
    updated: datetime
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the log says about one source's polling."""

    name: str
    last_polled_at: datetime | None = None
    last_outcome: str | None = None
    last_error: str | None = None
    # The failure's kind ("timeout", "no-updates", ...) while the last poll
    # failed, else None: `last_error` is for a person, this is for a check.
    last_error_kind: str | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    entry_count: int = 0
    etag: str | None = None
    last_modified: str | None = None
    updated: datetime | None = None
    position: int = 0
    not_before: datetime | None = None


class FoldTarget(Protocol):
    """The narrow view of a read model that `core.fold.fold` writes through."""

    def get_entry(self, source: str, key: str) -> EntryState | None: ...

    def put_entry(self, entry: EntryState) -> None: ...

    def edit_source(self, name: str) -> dict[str, Any]:
        """The source's state as a dict of `SourceState` fields, for the fold to
        change in place (a new source starts from the defaults).

        A dict rather than a frozen state: every event moves its source's
        position, and building a new `SourceState` for each one was a fifth
        of a replay's time. The target builds states when they are read.
        """
        ...

    def holds_id(self, entry_id: str) -> bool:
        """Whether an entry put so far has this Atom id."""
        ...

    def next_arrival(self) -> int:
        """The arrival number of an entry seen for the first time: one more than
        the entries put so far. Each call hands out the next number."""
        ...


def blank_source(name: str) -> dict[str, Any]:
    """A source's values before any event: `SourceState`'s defaults."""
    return {f.name: getattr(_BLANK_SOURCE, f.name) for f in fields(SourceState)} | {"name": name}


_BLANK_SOURCE = SourceState(name="")


def newest_first(entries: Iterable[EntryState]) -> list[EntryState]:
    """The feed order, shared by every adapter so their documents are identical."""
    return sorted(entries, key=lambda e: (e.published, e.entry_id), reverse=True)
