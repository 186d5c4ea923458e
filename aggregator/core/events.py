"""Frozen event types and their versioned serialisation.

The event log stores one record shape for every event: a type name, a schema
version and a JSON payload (see `store.base.StoredEvent`). This module maps
between those records and the typed events the rest of the code works with.

Each event also carries an *event key*: the idempotency key the log's unique
constraint enforces. Entry events are keyed by (source, entry key, version),
so two collectors that see the same change produce the same key and only one
append succeeds, while a collector that raced and lost simply sees the winner
on its next poll (optimistic concurrency, as an aggregate version would give).
Poll bookkeeping is keyed by a poll id chosen once per poll, so retrying the
append of one poll adds nothing twice.

Stored records are never rewritten, so a record keeps the schema version it
was written with, and old versions are upcast as they are read: each
`_UPCASTERS` step turns a payload of version N into one of version N+1, and
a record passes through every step from its version to `SCHEMA_VERSION`.

    1  the first shape
    2  `SourceFailed.http_status`: the HTTP status of a failure that was a
       server's answer. Version 1 had it only inside `reason`
       ("... answered HTTP 503 Service Unavailable"), where the upcaster
       finds it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

SCHEMA_VERSION = 2


_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(value: datetime) -> str:
    """UTC, microsecond precision, always the same shape: the log's time format.

    (isoformat rather than strftime: the same text, a third faster, and the
    year always four digits.)
    """
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """The inverse of `format_time`; anything of another shape is a ValueError.

    Every stored time passes through here on a replay, so the common case is
    fromisoformat (fifty times faster than strptime) once the shape is known.
    """
    if len(text) == 27 and text[10] == "T" and text[-1] == "Z":
        return datetime.fromisoformat(text)
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events; `source` names the configured source it concerns."""

    type_name: ClassVar[str] = ""
    source: str

    @property
    def event_key(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class EntryEvent(Event):
    """The full state of an entry at one version (1 = first seen).

    Carrying the whole state rather than a diff keeps projections simple and
    lets `feed --as-of` rebuild any moment by folding forward.
    """

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
    notes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def event_key(self) -> str:
        return f"entry:{self.source}:{self.key}:v{self.version}"


@dataclass(frozen=True, slots=True)
class EntryAdded(EntryEvent):
    type_name: ClassVar[str] = "EntryAdded"


@dataclass(frozen=True, slots=True)
class EntryRevised(EntryEvent):
    """Same entry, new content hash; `previous_hash` is what it replaced."""

    type_name: ClassVar[str] = "EntryRevised"
    previous_hash: str = ""


@dataclass(frozen=True, slots=True)
class PollEvent(Event):
    """One poll's outcome. `not_before` is the earliest next poll the server
    asked for (Retry-After, Cache-Control max-age), as it said it; the
    scheduler decides how much of the request to honour."""

    poll_id: str
    fetched_at: datetime
    not_before: datetime | None = None

    @property
    def event_key(self) -> str:
        return f"poll:{self.source}:{self.poll_id}"


@dataclass(frozen=True, slots=True)
class SourcePolled(PollEvent):
    """A successful poll: counts, plus the validators to send next time."""

    type_name: ClassVar[str] = "SourcePolled"
    entries_seen: int = 0
    added: int = 0
    revised: int = 0
    unchanged: int = 0
    etag: str | None = None
    last_modified: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceNotModified(PollEvent):
    type_name: ClassVar[str] = "SourceNotModified"


@dataclass(frozen=True, slots=True)
class SourceFailed(PollEvent):
    """A poll that produced nothing usable; `reason` is meant for a person."""

    type_name: ClassVar[str] = "SourceFailed"
    kind: str = "error"
    reason: str = ""
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class StoryLinked(Event):
    """The entry (`source`, `key`) reports the same fact as other outlets' entries:
    it belongs to `story` from now on.

    Keyed by the entry alone, so an entry joins one story once and never moves,
    and two linkers that decided differently leave the first decision. `score`
    is the entry's mean match score against the members it matched (0 for
    the entry that founded the story); `matched` names those members as
    "source/key", which explains the link to a person reading the log. Since
    issue 17 an entry is checked against a sample of a story's members (at
    most `follow.stories.cluster.STORY_SAMPLE`, its earliest and newest), so
    `matched` names at most that many.
    """

    type_name: ClassVar[str] = "StoryLinked"
    key: str
    story: str
    score: float = 0.0
    matched: tuple[str, ...] = ()

    @property
    def event_key(self) -> str:
        return f"story:{self.source}:{self.key}"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls
    for cls in (
        EntryAdded,
        EntryRevised,
        SourcePolled,
        SourceNotModified,
        SourceFailed,
        StoryLinked,
    )
}


def to_payload(event: Event) -> str:
    """Serialise an event's fields to canonical JSON (sorted keys, UTC times)."""
    data: dict[str, Any] = {}
    # Field by field, not dataclasses.asdict: asdict deep-copies every value,
    # which was most of the cost of appending a large poll.
    for name in _shape(type(event))[0]:
        value = getattr(event, name)
        if isinstance(value, datetime):
            data[name] = format_time(value)
        elif isinstance(value, tuple):
            data[name] = list(value)
        else:
            data[name] = value
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# What some database cannot hold in a text column: an unpaired UTF-16
# surrogate (no UTF-8 encoding exists for it; a JSON "\ud800" escape gives
# one) and NUL (PostgreSQL's text refuses it; a JSON "\u0000" gives one).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def repair_text(text: str) -> str:
    """`text` with every character no database can hold replaced by U+FFFD."""
    return UNSTORABLE.sub("\ufffd", text)


def storable(event: Event) -> Event:
    """`event` with every text field a database cannot hold repaired, and a note.

    The last check before an append: whatever an extractor or a server let
    through, no event reaches the write that cannot be encoded, so one bad
    value costs that value, never the poll. The fields are named in a note
    on the event where it keeps notes (entries and successful polls).
    """
    repaired: dict[str, Any] = {}
    for name in _shape(type(event))[0]:
        value = getattr(event, name)
        if isinstance(value, str):
            if UNSTORABLE.search(value):
                repaired[name] = repair_text(value)
        elif isinstance(value, tuple) and any(UNSTORABLE.search(v) for v in value):
            repaired[name] = tuple(repair_text(v) for v in value)
    if not repaired:
        return event
    if isinstance(event, EntryEvent | SourcePolled):
        repaired["notes"] = (*repaired.get("notes", event.notes), repair_note(repaired))
    return replace(event, **repaired)


def repair_note(fields: Iterable[str]) -> str:
    """The note that says which fields `repair_text` changed."""
    return f"NUL or unpaired surrogate replaced by U+FFFD in {', '.join(sorted(fields))}"


_HTTP_STATUS_IN_REASON = re.compile(r"\banswered HTTP (\d{3})\b")


def _v1_to_v2(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    if type_name == SourceFailed.type_name and "http_status" not in data:
        found = _HTTP_STATUS_IN_REASON.search(data.get("reason", ""))
        data["http_status"] = int(found.group(1)) if found else None
    return data


# Version N's step to version N+1.
_UPCASTERS: dict[int, Callable[[str, dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def upcast(type_name: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
    """A stored payload of `schema_version` in the current shape."""
    if not 1 <= schema_version <= SCHEMA_VERSION:
        raise ValueError(
            f"unknown schema version {schema_version} for {type_name}"
            f" (this build reads 1 to {SCHEMA_VERSION})"
        )
    for version in range(schema_version, SCHEMA_VERSION):
        data = _UPCASTERS[version](type_name, data)
    return data


def from_payload(type_name: str, schema_version: int, payload: str) -> Event:
    """Rebuild an event from its stored record, upcasting an older payload.

    Keys the class does not know are dropped (a payload may be read by an
    older build); only the fields that hold times or lists are converted,
    rather than looking at every field, because a replay decodes millions.
    """
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise ValueError(f"unknown event type {type_name!r}")
    data = json.loads(payload)
    if schema_version != SCHEMA_VERSION:
        data = upcast(type_name, schema_version, data)
    names, times, lists = _shape(cls)
    if not data.keys() <= names:
        data = {name: value for name, value in data.items() if name in names}
    for name in times:
        value = data.get(name)
        if value is not None:
            data[name] = parse_time(value)
    for name in lists:
        value = data.get(name)
        if value is not None:
            data[name] = tuple(value)
    return cls(**data)


_SHAPES: dict[type[Event], tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]] = {}


def _shape(cls: type[Event]) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    """A class's field names, which of them hold times and which hold tuples,
    worked out once per class (a replay decodes millions of payloads)."""
    shape = _SHAPES.get(cls)
    if shape is None:
        found = fields(cls)
        shape = _SHAPES[cls] = (
            frozenset(f.name for f in found),
            tuple(f.name for f in found if f.type in ("datetime", "datetime | None")),
            tuple(f.name for f in found if str(f.type).startswith("tuple[")),
        )
    return shape
