"""The poll plan: what one successful poll should append, decided without a database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aggregator.config import SourceConfig
from aggregator.config.kinds import show_duration
from aggregator.core.events import (
    EntryAdded,
    EntryRevised,
    Event,
    SourcePolled,
)
from aggregator.core.model import Page, content_hash
from aggregator.core.states import RecordedEntry
from aggregator.ingest.fetch import FetchResult


def entry_id(source: SourceConfig, key: str) -> str:
    """The Atom id given to a new entry; it is recorded in the event and never recomputed."""
    return f"{source.id}/{quote(key, safe='-._~')}"


def plan_poll(
    source: SourceConfig,
    page: Page,
    current: Mapping[str, RecordedEntry],
    fetched: FetchResult,
    poll_id: str,
) -> list[Event]:
    """The events one successful poll should append, oldest entry first."""
    events: list[Event] = []
    added = revised = unchanged = deferred = 0
    notes = [*fetched.notes, *page.notes]
    seen: set[str] = set()
    for item in sorted(page.entries, key=lambda e: (e.published, e.key)):
        if item.key in seen:
            notes.append(f"duplicate entry key {item.key!r} on the page; the first was kept")
            continue
        seen.add(item.key)
        digest = content_hash(item.title, item.content_html)
        previous = current.get(item.key)
        if previous is not None and previous.content_hash == digest:
            unchanged += 1
            continue
        if previous is not None and _damped(source, previous, fetched.fetched_at):
            deferred += 1
            continue
        common: dict[str, Any] = dict(
            source=source.name,
            key=item.key,
            title=item.title,
            content_html=item.content_html,
            published=item.published,
            link=item.link,
            author=item.author,
            content_hash=digest,
            notes=item.notes,
            categories=item.categories,
        )
        if previous is None:
            added += 1
            events.append(
                EntryAdded(
                    entry_id=item.id or entry_id(source, item.key),
                    version=1,
                    updated=item.updated or item.published,
                    **common,
                )
            )
        else:
            revised += 1
            events.append(
                EntryRevised(
                    entry_id=previous.entry_id,
                    version=previous.version + 1,
                    updated=max(item.updated or fetched.fetched_at, previous.updated),
                    previous_hash=previous.content_hash,
                    **common,
                )
            )
    if deferred:
        notes.append(
            f"{deferred} revision(s) deferred: an entry already revised is revised "
            f"again at most once per {show_duration(source.revise_every)}"
        )
    events.append(
        SourcePolled(
            source=source.name,
            poll_id=poll_id,
            fetched_at=fetched.fetched_at,
            entries_seen=len(seen),
            added=added,
            revised=revised,
            unchanged=unchanged,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            notes=tuple(notes),
            not_before=fetched.not_before,
        )
    )
    return events


def _damped(source: SourceConfig, previous: RecordedEntry, now: datetime) -> bool:
    """Whether a change to `previous` waits for a later poll.

    An entry's first revision is recorded at once: correcting an update just
    posted is the common real case. After that, one revision per
    `revise_every`, measured from when the log recorded the latest version
    (so a replayed log, whose states carry the same times, decides the same).
    A change seen sooner is not lost: the first poll after the period that
    still sees a different hash records it. So a page flipping between two
    versions on every poll costs one revision per period, not one per poll.
    """
    if not source.revise_every or previous.version < 2 or previous.recorded_at is None:
        return False
    return now < previous.recorded_at + source.revise_every
