"""In-memory adapters: the reference implementations of the storage contracts.

`MemoryReadModel` is also how `feed --as-of` and `replay --until` compute a
past state without touching the persisted projections.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from aggregator.core.clock import utc_now
from aggregator.core.events import SCHEMA_VERSION, Event, to_payload
from aggregator.core.fold import fold
from aggregator.core.states import (
    EntryDigest,
    EntryState,
    SourceState,
    StoredEvent,
    blank_source,
    newest_first,
)
from aggregator.store.base import continuing


class MemoryEventLog:
    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._records: list[StoredEvent] = []
        self._keys: set[str] = set()
        self._clock = clock

    def append(self, events: Sequence[Event]) -> list[StoredEvent]:
        written: list[StoredEvent] = []
        now = self._clock()
        for event in events:
            key = event.event_key
            if key in self._keys:
                continue
            self._keys.add(key)
            record = StoredEvent(
                position=len(self._records) + 1,
                event_key=key,
                type=event.type_name,
                schema_version=SCHEMA_VERSION,
                recorded_at=now,
                source=event.source,
                payload=to_payload(event),
            )
            self._records.append(record)
            written.append(record)
        return written

    def read(
        self, after: int = 0, upto: int | None = None, limit: int | None = None
    ) -> Iterator[StoredEvent]:
        stop = len(self._records) if upto is None else min(upto, len(self._records))
        selected = self._records[after:stop]
        return iter(selected if limit is None else selected[:limit])

    def head(self) -> int:
        return len(self._records)

    def position_at(self, when: datetime) -> int:
        return sum(1 for _ in itertools.takewhile(lambda r: r.recorded_at <= when, self._records))

    def recorded_since(self, when: datetime) -> dict[str, int]:
        return dict(Counter(r.source for r in self._records if r.recorded_at > when))


class MemoryReadModel:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._entries: dict[tuple[str, str], EntryState] = {}
        self._owners: dict[str, str] = {}
        self._sources: dict[str, dict[str, Any]] = {}
        self._checkpoint = 0
        self._last_recorded_at: datetime | None = None
        self._arrivals = 0

    def checkpoint(self) -> int:
        return self._checkpoint

    def apply(self, records: Iterable[StoredEvent]) -> int:
        for record in continuing(records, self._checkpoint):
            fold(self, record)
            self._checkpoint = record.position
            self._last_recorded_at = record.recorded_at
        return self._checkpoint

    def get_entry(self, source: str, key: str) -> EntryState | None:
        return self._entries.get((source, key))

    def put_entry(self, entry: EntryState) -> None:
        self._entries[(entry.source, entry.key)] = entry
        self._owners[entry.entry_id] = entry.source

    def holds_id(self, entry_id: str) -> bool:
        return entry_id in self._owners

    def edit_source(self, name: str) -> dict[str, Any]:
        values = self._sources.get(name)
        if values is None:
            values = self._sources[name] = blank_source(name)
        return values

    def next_arrival(self) -> int:
        self._arrivals += 1
        return self._arrivals

    def entries(
        self, source: str | None = None, limit: int | None = None, story: str | None = None
    ) -> list[EntryState]:
        chosen = (
            e
            for e in self._entries.values()
            if (source is None or e.source == source) and (story is None or e.story == story)
        )
        ordered = newest_first(chosen)
        return ordered if limit is None else ordered[:limit]

    def digests(self, source: str) -> dict[str, EntryDigest]:
        return {
            e.key: EntryDigest(e.entry_id, e.version, e.content_hash, e.updated, e.recorded_at)
            for e in self._entries.values()
            if e.source == source
        }

    def owners(self, entry_ids: Iterable[str]) -> dict[str, str]:
        return {i: self._owners[i] for i in entry_ids if i in self._owners}

    def arrivals(self) -> int:
        return self._arrivals

    def arrived(self, first: int, last: int) -> list[EntryState]:
        return newest_first(e for e in self._entries.values() if first <= e.arrival <= last)

    def arrival_sources(self, first: int, last: int) -> list[tuple[int, str]]:
        chosen = (e for e in self._entries.values() if first <= e.arrival <= last)
        return sorted((e.arrival, e.source) for e in chosen)

    def numbered(self, arrivals: Collection[int]) -> list[EntryState]:
        wanted = set(arrivals)
        return newest_first(e for e in self._entries.values() if e.arrival in wanted)

    def changed_since(self, position: int) -> list[int]:
        return [e.arrival for e in self._entries.values() if e.changed > position]

    def sources(self) -> dict[str, SourceState]:
        return {name: SourceState(**values) for name, values in self._sources.items()}

    def source(self, name: str) -> SourceState | None:
        values = self._sources.get(name)
        return None if values is None else SourceState(**values)

    def last_recorded_at(self) -> datetime | None:
        return self._last_recorded_at
