"""The poll plan: what one successful poll should append, decided without a database.

An entry's Atom id is chosen once, when it is added, and recorded in its
`EntryAdded`; revisions and the fold keep it. The id a source gives (a guid,
an atom:id, a JSON-LD `@id`) is kept, as RFC 4287 4.2.6 asks, only when it
can be ours to publish: an absolute IRI (`core.model.is_absolute_iri`) of at
most `ID_LIMIT` characters that no entry of another source holds. Otherwise
the entry takes an id in its source's own namespace, `entry_id(source, key)`,
with a note saying why. So a feed that copies another outlet's ids cannot
replace or shadow that outlet's entries, and two outlets whose guids are both
`123` are both published, under ids that are IRIs and are their own.
"""

from __future__ import annotations

import hashlib
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
from aggregator.core.model import ExtractedEntry, Page, content_hash, is_absolute_iri
from aggregator.core.states import RecordedEntry
from aggregator.ingest.fetch import FetchResult

# The entries table holds 1024 characters of id on PostgreSQL; a longer id,
# or one near it, is no use to a feed reader either.
ID_LIMIT = 512


def entry_id(source: SourceConfig, key: str) -> str:
    """The Atom id of a new entry in its source's namespace: the source's id, '/',
    and the key percent-encoded (so no key can step out of it, and two keys
    never give one id). It is recorded in the event and never recomputed.

    A key whose encoding would take the id past `ID_LIMIT` is replaced by its
    SHA-256, after a ':' that no encoded key holds.
    """
    own = f"{source.id}/{quote(key, safe='-._~')}"
    if len(own) <= ID_LIMIT:
        return own
    return f"{source.id}/sha256:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"


def given_ids(page: Page, current: Mapping[str, RecordedEntry]) -> set[str]:
    """The ids the page's new entries would keep as given: what a poll asks the
    read model's `owners` about, in one query, before planning."""
    return {
        item.id
        for item in page.entries
        if item.key not in current and item.id is not None and _fit(item.id)
    }


def plan_poll(
    source: SourceConfig,
    page: Page,
    current: Mapping[str, RecordedEntry],
    fetched: FetchResult,
    poll_id: str,
    owners: Mapping[str, str],
) -> list[Event]:
    """The events one successful poll should append, oldest entry first.

    `owners` maps an id to the source whose entry holds it, for (at least)
    the page's `given_ids`: the store's `ReadModel.owners`.
    """
    events: list[Event] = []
    added = revised = unchanged = deferred = 0
    notes = [*fetched.notes, *page.notes]
    seen: set[str] = set()
    claimants: set[str] = set()
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
            categories=item.categories,
        )
        if previous is None:
            added += 1
            chosen, why, claimant = _new_id(source, item, owners)
            if claimant is not None:
                claimants.add(claimant)
            events.append(
                EntryAdded(
                    entry_id=chosen,
                    version=1,
                    updated=item.updated or item.published,
                    notes=item.notes if why is None else (*item.notes, why),
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
                    notes=item.notes,
                    **common,
                )
            )
    if claimants:
        notes.append(
            f"entries gave ids that entries of {', '.join(sorted(map(repr, claimants)))} hold;"
            " they were given ids of this source's own"
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


def _fit(given: str) -> bool:
    return len(given) <= ID_LIMIT and is_absolute_iri(given)


def _new_id(
    source: SourceConfig, item: ExtractedEntry, owners: Mapping[str, str]
) -> tuple[str, str | None, str | None]:
    """A new entry's id; when it is not the one given, the note that says why;
    and the other source whose entry holds the given one, if that is why."""
    own = entry_id(source, item.key)
    given = item.id
    if given is None:
        return own, None, None
    owner = owners.get(given, source.name)
    if owner == source.name and _fit(given):
        return given, None, None
    if len(given) > ID_LIMIT:
        why, claimant = f"is over {ID_LIMIT} characters", None
    elif not is_absolute_iri(given):
        why, claimant = "is not an absolute IRI", None
    else:
        why, claimant = f"is the id of an entry of {owner!r}", owner
    shown = repr(given if len(given) <= 80 else f"{given[:80]}...")
    return own, f"the id given, {shown}, {why}; the entry's is {own}", claimant


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
