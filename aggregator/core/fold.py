"""The fold: the single definition of what each event means for the read models."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

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
        target.put_entry(
            EntryState(
                source=event.source,
                key=event.key,
                entry_id=event.entry_id if previous is None else previous.entry_id,
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
                arrival=target.next_arrival() if previous is None else previous.arrival,
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


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a
