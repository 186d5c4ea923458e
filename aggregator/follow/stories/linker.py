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

Memory stays bounded: a new linker, and one whose index has grown past
`INDEX_LIMIT` entries, indexes only the newest `WARM_ENTRIES` entries of the
read model (by publication time), since reports further apart than the
match window are never compared.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

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
    """Follows one log and records the stories its entries form; safe across threads."""

    def __init__(self, params: MatchParams | None = None) -> None:
        self._params = params
        self._lock = threading.Lock()
        self._index = StoryIndex(params)
        self._recorded: dict[tuple[str, str], str] = {}
        self._position: int | None = None

    @property
    def position(self) -> int:
        """The log position the linker has read up to (0 before its first run)."""
        return self._position or 0

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
            links: list[Event] = []
            if self._position is None or len(self._index) > INDEX_LIMIT:
                links.extend(self._warm(model))
            while not interrupted():
                assert self._position is not None
                batch = list(log.read(after=self._position, limit=READ_BATCH))
                if not batch:
                    break
                for record in batch:
                    if interrupted():
                        break
                    links.extend(self._follow(record))
                    self._position = record.position
            written = log.append(links) if links else []
            if written:
                fold_appended(log, model, written)
            return written

    def _warm(self, model: ReadModel) -> list[StoryLinked]:
        """Start the index again from the read model's newest entries, in log order,
        and return the links among them that were never recorded (entries stored
        before stories existed, or by a process that stopped before linking)."""
        position = model.checkpoint()
        newest = model.entries(limit=WARM_ENTRIES)
        self._index = StoryIndex(self._params)
        self._recorded = {
            (state.source, state.key): state.story for state in newest if state.story is not None
        }
        links: list[StoryLinked] = []
        for state in sorted(newest, key=lambda e: e.position):
            links.extend(self._add(StoryEntry.from_state(state)))
        self._position = position
        logger.debug("story index warmed", extra={"entries": len(newest), "position": position})
        return links

    def _follow(self, record: StoredEvent) -> list[StoryLinked]:
        if record.type == StoryLinked.type_name:
            linked = record.event()
            assert isinstance(linked, StoryLinked)
            self._recorded[(linked.source, linked.key)] = linked.story
            return []
        if record.type != EntryAdded.type_name:
            return []
        added = record.event()
        assert isinstance(added, EntryAdded)
        return self._add(
            StoryEntry.from_html(
                added.source, added.key, added.title, added.content_html, added.published
            )
        )

    def _add(self, entry: StoryEntry) -> list[StoryLinked]:
        assignment = self._index.add(entry)
        if not assignment.joined or assignment.known:
            return []
        return self._links(entry, assignment)

    def _links(self, entry: StoryEntry, assignment: Assignment) -> list[StoryLinked]:
        """The events recording `entry`'s join, and the founding member's if the story is new."""
        members = self._index.members(entry.source, entry.key)
        recorded = [
            self._recorded[m.source, m.key] for m in members if (m.source, m.key) in self._recorded
        ]
        story = recorded[0] if recorded else assignment.story
        links: list[StoryLinked] = []
        for member in members:
            if (member.source, member.key) in self._recorded:
                continue
            others = tuple(f"{m.source}/{m.key}" for m in members if m is not member)
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
