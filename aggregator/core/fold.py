"""The fold: the single definition of what each event means for the read models."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

from aggregator.core.events import (
    EntryEvent,
    Event,
    PollEvent,
    SourceFailed,
    SourcePolled,
    StoryLinked,
)
from aggregator.core.states import EntryState, FoldTarget, StoredEvent


def fold(target: FoldTarget, record: StoredEvent, event: Event | None = None) -> None:
    """Apply one record; `event` is the record's decoded event when the caller has it."""
    if event is None:
        event = record.event()
    source = target.edit_source(event.source)
    source["position"] = record.position
    if isinstance(event, EntryEvent):
        previous = target.get_entry(event.source, event.key)
        arrival = target.next_arrival() if previous is None else previous.arrival
        target.put_entry(
            EntryState(
                source=event.source,
                key=event.key,
                entry_id=_unheld(target, event, arrival) if previous is None else previous.entry_id,
                version=event.version,
                title=event.title,
                content_html=event.content_html,
                published=event.published,
                updated=event.updated,
                link=event.link,
                author=event.author,
                content_hash=event.content_hash,
                position=record.position,
                categories=event.categories,
                story=None if previous is None else previous.story,
                arrival=arrival,
                changed=record.position,
                recorded_at=record.recorded_at,
            )
        )
        source["entry_count"] += previous is None
        source["updated"] = _later(source["updated"], event.updated)
    elif isinstance(event, PollEvent):
        source["last_polled_at"] = event.fetched_at
        source["not_before"] = event.not_before
        if isinstance(event, SourceFailed):
            source["last_outcome"] = "failed"
            source["last_error"] = f"{event.kind}: {event.reason}"
            source["last_error_kind"] = event.kind
            source["consecutive_failures"] += 1
        else:
            source["last_outcome"] = "ok" if isinstance(event, SourcePolled) else "not-modified"
            source["last_error"] = None
            source["last_error_kind"] = None
            source["last_success_at"] = event.fetched_at
            source["consecutive_failures"] = 0
        if isinstance(event, SourcePolled):
            source["etag"] = event.etag
            source["last_modified"] = event.last_modified
    elif isinstance(event, StoryLinked):
        linked = target.get_entry(event.source, event.key)
        if linked is not None:
            target.put_entry(replace(linked, story=event.story, changed=record.position))


def _unheld(target: FoldTarget, event: EntryEvent, arrival: int) -> str:
    """A new entry's id: the one its event records, unless an entry folded
    before it holds that id already.

    The poll plan gives an entry an id no other source's entry holds, but it
    asks the read model, which two polls racing (or a projection behind the
    log) can leave without the other claim. Then the earlier event in the log
    keeps the id, and the later entry gets the id with '/', its source and its
    arrival number appended (an absolute IRI stays one), so a document never
    holds one id twice. It is decided when the entry is first folded, from
    the log alone: a replay decides the same, and the id never changes after.
    """
    chosen = event.entry_id
    while target.holds_id(chosen):
        chosen = f"{chosen}/{quote(event.source, safe='')}/{arrival}"
    return chosen


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a
