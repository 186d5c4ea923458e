"""Folding the event log into read models.

`fold` is the single definition of what each event means for the entries and
source-status read models; every adapter (in memory, SQL) applies it through
the narrow `FoldTarget` view, so the state after position P is the same
whichever adapter computed it. That equality is what makes `feed --as-of`
(a fold in memory) agree byte for byte with the feed the service wrote at the
time (a fold into SQL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from aggregator.events import (
    EntryEvent,
    Event,
    PollEvent,
    SourceFailed,
    SourcePolled,
    StoryLinked,
)
from aggregator.store.base import (
    EntryState,
    EventLog,
    FoldTarget,
    ReadModel,
    StoredEvent,
)

CATCH_UP_BATCH = 2000


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


def catch_up(
    log: EventLog,
    model: ReadModel,
    upto: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Fold everything past the model's checkpoint (up to `upto`); return events folded.

    `progress` is told the checkpoint after each batch (for a terminal's progress line).
    """
    folded = 0
    while True:
        start = model.checkpoint()
        if upto is not None and start >= upto:
            return folded
        batch = list(log.read(after=start, upto=upto, limit=CATCH_UP_BATCH))
        if not batch:
            return folded
        reached = model.apply(batch)
        folded += reached - start
        if progress is not None:
            progress(reached)


def fold_appended(log: EventLog, model: ReadModel, written: Sequence[StoredEvent]) -> None:
    """Bring `model` up to date after this process appended `written`.

    When the model stands right before them, the records just written are
    folded as they are, in one transaction, without reading them back: most
    polls append one or two events, and reading the log back doubled their
    store work. Otherwise (another process appended in between) it catches
    up from the log.
    """
    if written and model.checkpoint() == written[0].position - 1:
        model.apply(written)
    else:
        catch_up(log, model)
