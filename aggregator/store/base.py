"""The storage contracts: the append-only event log and the read models.

`EventLog` is the truth. Its guarantees, which every adapter must keep and
which `tests/test_store_contract.py` checks against each of them:

* positions start at 1 and have no gaps; they are assigned inside a serialised
  write transaction, so commit order equals position order and a reader that
  tails `position > cursor` can never skip an event;
* `append` is atomic and idempotent: events whose `event_key` is already in
  the log are skipped, and the unique key is enforced by the database too;
* stored events are never updated or deleted.

A `ReadModel` is a projection of the log: entries and source status, plus the
position it has folded up to (its checkpoint), stored in the same transaction
as the state so that a crash can never leave the two out of step. No two of
its entries have one Atom id: the fold gives a later claimant of an id
another (`core.fold`), and the SQL adapter's unique index enforces it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from aggregator.core.events import Event
from aggregator.core.states import (
    EntryDigest,
    EntryState,
    SourceState,
    StoredEvent,
)


class EventLog(Protocol):
    def append(self, events: Sequence[Event]) -> list[StoredEvent]:
        """Append atomically, skipping events whose key is already stored.

        Returns the records actually written, in position order. All or
        nothing: `StoreUnavailable` when the database is away (repeat it),
        `StoreRefused` when it refused what the events hold (repeating fails
        again); either way nothing of the batch was written.
        """
        ...

    def read(
        self, after: int = 0, upto: int | None = None, limit: int | None = None
    ) -> Iterator[StoredEvent]:
        """Events with `after < position <= upto`, in position order."""
        ...

    def head(self) -> int:
        """The highest position written (0 for an empty log)."""
        ...

    def position_at(self, when: datetime) -> int:
        """The highest position recorded at or before `when` (0 if none)."""
        ...

    def recorded_since(self, when: datetime) -> dict[str, int]:
        """How many events were recorded after `when`, by source (sources with
        none are left out): how fast each source grows the log. One indexed
        range of recording times, so asking for the last hour stays cheap."""
        ...


class ReadModel(Protocol):
    def checkpoint(self) -> int:
        """The position of the last event folded (0 when empty)."""
        ...

    def apply(self, records: Iterable[StoredEvent]) -> int:
        """Fold the records past the checkpoint and advance it, atomically.

        Records at or below the checkpoint are ignored, so applying a batch
        twice is harmless; so is every record from the first that does not
        follow the one before (position checkpoint + 1, + 2, ...), so a
        batch that does not continue the checkpoint folds nothing, rather
        than leave a gap. Returns the new checkpoint.
        """
        ...

    def reset(self) -> None:
        """Throw all state away and set the checkpoint to 0."""
        ...

    def entries(
        self, source: str | None = None, limit: int | None = None, story: str | None = None
    ) -> list[EntryState]:
        """Entries newest first (published, then entry id, both descending), of one
        source and of one story when given."""
        ...

    def digests(self, source: str) -> dict[str, EntryDigest]:
        """Every entry of `source` by key, without its content: what a poll diffs against."""
        ...

    def owners(self, entry_ids: Iterable[str]) -> dict[str, str]:
        """For each of `entry_ids` that an entry holds, the source of that entry
        (one at most: ids are unique); ids no entry holds are left out.

        What a poll asks about its page's ids before planning, so it is one
        indexed query (per 500 ids) for the whole page, never one per entry.
        """
        ...

    def arrivals(self) -> int:
        """How many entries the model holds: the last arrival number (0 when empty)."""
        ...

    def arrived(self, first: int, last: int) -> list[EntryState]:
        """The entries whose arrival number is from `first` to `last`, newest first
        (feed order): one stretch of the log's entries in order of appearance."""
        ...

    def arrival_sources(self, first: int, last: int) -> list[tuple[int, str]]:
        """(arrival number, source) of the entries whose arrival number is from
        `first` to `last`, in arrival order: what the merged feed's fair window
        is chosen from, without reading the entries themselves."""
        ...

    def numbered(self, arrivals: Collection[int]) -> list[EntryState]:
        """The entries with these arrival numbers, newest first (feed order);
        numbers no entry has are left out."""
        ...

    def changed_since(self, position: int) -> list[int]:
        """The arrival numbers of the entries whose state changed after `position`
        (a new version or a story link), in no particular order."""
        ...

    def sources(self) -> dict[str, SourceState]: ...

    def source(self, name: str) -> SourceState | None:
        """One source's status: what a poll needs, without reading every source."""
        ...

    def last_recorded_at(self) -> datetime | None:
        """When the last folded event was recorded (a changed document's Last-Modified)."""
        ...


def continuing(records: Iterable[StoredEvent], checkpoint: int) -> list[StoredEvent]:
    """The records that continue `checkpoint` without a gap: what `ReadModel.apply` folds."""
    run: list[StoredEvent] = []
    for record in records:
        if record.position <= checkpoint:
            continue
        if record.position != checkpoint + len(run) + 1:
            break
        run.append(record)
    return run
