"""Recording stories in the log: matches become `StoryLinked` events.

The matcher (`StoryIndex`) decides; the log remembers. A `StoryLinker`
follows the log: every `EntryAdded` past its position goes into the index,
and when an entry joins a story, one `StoryLinked` is appended for each
member not yet recorded (the founding member too, when the story is new).
Replay folds those events and never runs the matcher, so a replay, or a
`feed --as-of`, shows exactly the stories that were known then, whatever
the matcher's thresholds have become since.

The log is the authority. A `StoryLinked` is keyed by its entry, so an
entry is linked once and never moves; the linker reads every
`StoryLinked` it meets (its own and other processes') and links later
members to the story their partners were recorded in, even when the index,
seeing the entries in another order, would name the story differently.

A linker starts at a log position (`start`) and follows what comes after
it: the entries before are the business of the process that appended them
(every command that appends runs a linker after its appends, see
`follow.runner`). The index is warmed lazily: only when a batch of the log
past the position holds an `EntryAdded`, the linker indexes those of the
read model's newest `WARM_ENTRIES` entries published within the match
window of the batch's new ones (reports further apart are never compared),
and links what among them was never recorded (entries stored before
stories existed, or by a process that stopped before linking). A warm
`collect` that added nothing reads its few poll events and never touches
the matcher or the read model's entries; one that added entries pays for at
most `WARM_ENTRIES` entries of warm-up, each at the bounded cost of
`StoryIndex.add`. Measured (2,000 entries, 20 of them new): the items of
100 RSS feeds of `bench.fanout` took 19.5 s and 2.4 million pairs scored,
now 3.1 s and 110,000; 20 outlets sharing a boilerplate paragraph 266 s
and 2.0 million, now 5.1 s and 65,000. An entry the process that appended
it never linked (it stopped first) is linked when a later one's window
holds it.

Memory stays bounded: once the index holds more than `INDEX_LIMIT`
entries, it is dropped between two batches of the log and warmed again for
the next new entries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from aggregator.core.events import EntryAdded, Event, StoryLinked
from aggregator.core.states import StoredEvent
from aggregator.follow.stories.cluster import Assignment, StoryEntry, StoryIndex
from aggregator.follow.stories.match import MatchParams
from aggregator.store.base import EventLog, ReadModel
from aggregator.store.catchup import fold_appended

logger = logging.getLogger("aggregator.stories")

WARM_ENTRIES = 2000
INDEX_LIMIT = 6000
READ_BATCH = 2000


class StoryLinker:
    """Follows one log from `start` and records the stories its entries form; safe
    across threads."""

    def __init__(self, params: MatchParams | None = None, *, start: int = 0) -> None:
        self._params = params or MatchParams()
        self._lock = threading.Lock()
        self._index: StoryIndex | None = None  # None until new entries call for it
        self._recorded: dict[tuple[str, str], str] = {}
        self._position = start

    @property
    def position(self) -> int:
        """The log position the linker has read up to."""
        return self._position

    @property
    def index(self) -> StoryIndex | None:
        """The matcher's index, None while no new entry has called for one."""
        return self._index

    def link(
        self,
        log: EventLog,
        model: ReadModel,
        interrupted: Callable[[], bool] = lambda: False,
    ) -> list[StoredEvent]:
        """Index what the log gained since the last call and append the links it
        implies; return the records appended (already folded into `model`).

        `interrupted` is asked before each entry: once it says so, the links
        found so far are appended and the linker stops where it got to (a
        service shutting down does not wait for a long catch-up to finish).
        """
        with self._lock:
            written: list[StoredEvent] = []
            links: list[Event] = []
            while not interrupted():
                batch = list(log.read(after=self._position, limit=READ_BATCH))
                if not batch:
                    break
                if self._index is not None and len(self._index) > INDEX_LIMIT:
                    # Recorded first, so that the next warm-up reads them in the model.
                    written += _append(log, model, links)
                    links, self._index = [], None
                events = [_added(record) for record in batch]
                if self._index is None:
                    published = [event.published for event in events if event is not None]
                    if published:
                        links.extend(self._warm(model, min(published), max(published)))
                for record, added in zip(batch, events, strict=True):
                    if interrupted():
                        break
                    links.extend(self._follow(record, added))
                    self._position = record.position
            return written + _append(log, model, links)

    def _warm(self, model: ReadModel, earliest: datetime, latest: datetime) -> list[StoryLinked]:
        """A new index of the read model's newest `WARM_ENTRIES` entries that were
        published within the match window of the new ones (from `earliest` to
        `latest`), in log order; return the links among them never recorded."""
        apart = self._params.window
        near = [
            s
            for s in model.entries(limit=WARM_ENTRIES)
            if earliest - apart <= s.published <= latest + apart
        ]
        self._index = StoryIndex(self._params)
        self._recorded = {(s.source, s.key): s.story for s in near if s.story is not None}
        links: list[StoryLinked] = []
        for state in sorted(near, key=lambda e: e.position):
            links.extend(self._add(StoryEntry.from_state(state)))
        logger.debug("story index warmed", extra={"entries": len(near)})
        return links

    def _follow(self, record: StoredEvent, added: EntryAdded | None) -> list[StoryLinked]:
        if record.type == StoryLinked.type_name:
            linked = record.event()
            assert isinstance(linked, StoryLinked)
            self._recorded[(linked.source, linked.key)] = linked.story
            return []
        if added is None:
            return []
        return self._add(
            StoryEntry.from_html(
                added.source, added.key, added.title, added.content_html, added.published
            )
        )

    def _add(self, entry: StoryEntry) -> list[StoryLinked]:
        assert self._index is not None
        assignment = self._index.add(entry)
        if not assignment.joined or assignment.known:
            return []
        return self._links(entry, assignment)

    def _links(self, entry: StoryEntry, assignment: Assignment) -> list[StoryLinked]:
        """The events recording `entry`'s join, and those of the members it was checked
        against that were never recorded (the founding member, when the story is new)."""
        group = sorted((*assignment.matched, entry), key=lambda e: e.order)
        recorded = [
            self._recorded[m.source, m.key] for m in group if (m.source, m.key) in self._recorded
        ]
        story = recorded[0] if recorded else assignment.story
        links: list[StoryLinked] = []
        for member in group:
            if (member.source, member.key) in self._recorded:
                continue
            others = tuple(f"{m.source}/{m.key}" for m in group if m is not member)
            links.append(
                StoryLinked(
                    source=member.source,
                    key=member.key,
                    story=story,
                    score=round(assignment.score, 4) if member is entry else 0.0,
                    matched=others,
                )
            )
            self._recorded[(member.source, member.key)] = story
        return links


def _append(log: EventLog, model: ReadModel, links: list[Event]) -> list[StoredEvent]:
    """Append `links` and fold what was written into `model`."""
    written = log.append(links) if links else []
    if written:
        fold_appended(log, model, written)
    return written


def _added(record: StoredEvent) -> EntryAdded | None:
    if record.type != EntryAdded.type_name:
        return None
    event = record.event()
    assert isinstance(event, EntryAdded)
    return event
