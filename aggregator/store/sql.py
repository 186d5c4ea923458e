"""SQL adapters of the storage contracts (SQLite and PostgreSQL, via SQLModel).

Write serialisation, the heart of the log's guarantees:

* SQLite runs in WAL mode, and every write transaction starts with
  `BEGIN IMMEDIATE`, which takes the database's single write lock up front, so
  two writers never interleave and never deadlock on a lock upgrade. Reads use
  plain deferred transactions and do not block writers.
* PostgreSQL serialises appends with a row lock on the one-row `log_head`
  table (`SELECT ... FOR UPDATE`). Positions are taken from that row rather
  than a sequence, because a sequence hands out numbers outside the
  transaction and a rolled-back append would leave a gap.

The unique `event_key` is the backstop for idempotency and triggers refuse
UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) of event rows. Times are
stored as fixed-width UTC text so both databases sort and return them
identically, to the microsecond.

A database that goes away (a PostgreSQL restart, a dropped connection, an
SQLite write lock held past the busy timeout, a file that is no longer a
database) surfaces as `StoreUnavailable`
from every session. `append` retries it a few times with growing pauses: an
append whose COMMIT was lost in transit may in fact have landed, and the
retry then finds its keys stored and adds nothing, so retrying never doubles
an event.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Index,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    DatabaseError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlmodel import Field, SQLModel, col, delete

from aggregator.core.clock import utc_now
from aggregator.core.errors import (
    AppendOnlyViolation,
    StoreError,
    StoreRefused,
    StoreUnavailable,
)
from aggregator.core.events import (
    SCHEMA_VERSION,
    EntryEvent,
    Event,
    StoryLinked,
    format_time,
    parse_time,
    to_payload,
)
from aggregator.core.fold import fold
from aggregator.core.states import (
    EntryDigest,
    EntryState,
    SourceState,
    StoredEvent,
    blank_source,
    newest_first,
)
from aggregator.store import migrations
from aggregator.store.base import continuing

logger = logging.getLogger("aggregator.store")

KEY_CHUNK = 500
PROJECTION = "entries"
_WAL_SWITCH_ATTEMPTS = 100  # 50 ms apart: five seconds in all
# Pauses between attempts of an append that met an unavailable database: about
# 7.5 s in all, long enough to ride out a failover or a restart's first moments.
APPEND_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)


class EventRecord(SQLModel, table=True):
    __tablename__ = "events"
    position: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    event_key: str = Field(unique=True, max_length=512)
    type: str = Field(max_length=64)
    schema_version: int
    recorded_at: str = Field(index=True, max_length=32)
    source: str = Field(index=True, max_length=200)
    payload: str = Field(sa_column=Column(Text, nullable=False))


class LogHead(SQLModel, table=True):
    __tablename__ = "log_head"
    id: int = Field(primary_key=True)
    position: int


class EntryRow(SQLModel, table=True):
    __tablename__ = "entries"
    # Feed order, overall and per source (see migration 0004).
    __table_args__ = (
        Index("ix_entries_feed_order", "published", "entry_id"),
        Index("ix_entries_source_feed_order", "source", "published", "entry_id"),
        # Archive pages are stretches of arrival numbers; what changed since a
        # position is a range of `changed` (see migration 0006).
        Index("ix_entries_arrival", "arrival", unique=True),
        Index("ix_entries_changed", "changed"),
        # No two entries share an Atom id; who holds an id is a lookup (0008).
        Index("ix_entries_entry_id", "entry_id", unique=True),
    )
    source: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=512)
    entry_id: str = Field(max_length=1024)
    version: int
    title: str = Field(sa_column=Column(Text, nullable=False))
    content_html: str = Field(sa_column=Column(Text, nullable=False))
    published: str = Field(max_length=32)
    updated: str = Field(max_length=32)
    link: str | None = Field(default=None, sa_column=Column(Text))
    author: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(max_length=80)
    position: int
    categories: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    story: str | None = Field(default=None, index=True, max_length=64)
    arrival: int = 0
    changed: int = 0
    recorded_at: str | None = Field(default=None, max_length=32)


class SourceRow(SQLModel, table=True):
    __tablename__ = "source_status"
    name: str = Field(primary_key=True, max_length=200)
    last_polled_at: str | None = Field(default=None, max_length=32)
    last_outcome: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_kind: str | None = Field(default=None, sa_column=Column(Text))
    last_success_at: str | None = Field(default=None, max_length=32)
    consecutive_failures: int = 0
    entry_count: int = 0
    etag: str | None = Field(default=None, sa_column=Column(Text))
    last_modified: str | None = Field(default=None, max_length=64)
    updated: str | None = Field(default=None, max_length=32)
    position: int = 0
    not_before: str | None = Field(default=None, max_length=32)


class Checkpoint(SQLModel, table=True):
    __tablename__ = "projection_checkpoints"
    name: str = Field(primary_key=True, max_length=64)
    position: int = 0
    last_recorded_at: str | None = Field(default=None, max_length=32)


def make_engine(url: str) -> Engine:
    """An engine with the transaction behaviour the log's guarantees need."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # The application name shows in pg_stat_activity, so an operator (or a
        # test) can tell which aggregator process holds a conn or a lock.
        name = f"aggregator (pid {os.getpid()})"
        return create_engine(parsed, pool_pre_ping=True, connect_args={"application_name": name})
    raise StoreError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" event below: the sqlite3
    # module's own implicit BEGIN would be DEFERRED.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    # Turning a new file to WAL needs it to itself for a moment; processes
    # opening a new database together can be told "locked" at once, without
    # the busy handler (SQLite's deadlock avoidance), so the switch is retried.
    for _ in range(_WAL_SWITCH_ATTEMPTS - 1):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.05)
    else:
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    write = connection.get_execution_options().get("aggregator_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class SqlStore:
    """One database holding the log and the read models, sharing an engine."""

    def __init__(
        self,
        url: str,
        clock: Callable[[], datetime] = utc_now,
        retry_delays: Sequence[float] = APPEND_RETRY_DELAYS,
    ) -> None:
        self.url = url
        self.retry_delays = tuple(retry_delays)
        self.engine = make_engine(url)
        self._writer = self.engine.execution_options(aggregator_write=True)
        self.clock = clock
        self.log = SqlEventLog(self)
        self.read_model = SqlReadModel(self)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> tuple[str | None, str]:
        """Create or upgrade the schema (see `migrations`): (revision before, after).

        The append-only triggers come with the baseline migration, so they are
        installed once with the events table, never replaced at each start
        (which would lock the log exclusively on PostgreSQL).
        """
        return migrations.upgrade(self.engine, self._writer)

    @contextmanager
    def write_session(self) -> Iterator[Connection]:
        with self._session(self._writer) as conn:
            yield conn

    @contextmanager
    def read_session(self) -> Iterator[Connection]:
        with self._session(self.engine) as conn:
            yield conn

    @contextmanager
    def _session(self, engine: Engine) -> Iterator[Connection]:
        try:
            with engine.connect() as conn:
                yield conn
        except (OperationalError, InterfaceError) as exc:
            raise StoreUnavailable(self._unavailable(exc)) from exc
        except DBAPIError as exc:
            # A bare DatabaseError (no subclass) is the driver saying the
            # database itself is unusable: SQLite's "database disk image is
            # malformed" or "file is not a database".
            if exc.connection_invalidated or type(exc) is DatabaseError:
                raise StoreUnavailable(self._unavailable(exc)) from exc
            raise

    def _unavailable(self, exc: DBAPIError) -> str:
        shown = make_url(self.url).render_as_string(hide_password=True)
        lines = str(exc.orig or exc).strip().splitlines() or [type(exc).__name__]
        return f"database {shown} unavailable: {lines[0]}"

    def close(self) -> None:
        self.engine.dispose()


def _row(record: StoredEvent) -> dict[str, Any]:
    """The inverse of `_stored`: a record as the events table holds it."""
    return {
        "position": record.position,
        "event_key": record.event_key,
        "type": record.type,
        "schema_version": record.schema_version,
        "recorded_at": format_time(record.recorded_at),
        "source": record.source,
        "payload": record.payload,
    }


_EVENT_COLUMNS = (
    col(EventRecord.position),
    col(EventRecord.event_key),
    col(EventRecord.type),
    col(EventRecord.schema_version),
    col(EventRecord.recorded_at),
    col(EventRecord.source),
    col(EventRecord.payload),
)


def _stored(row: Sequence[Any]) -> StoredEvent:
    """A row of `_EVENT_COLUMNS` as a record (plain tuples: no ORM object per event)."""
    position, event_key, type_, schema_version, recorded_at, source, payload = row
    return StoredEvent(
        position, event_key, type_, schema_version, parse_time(recorded_at), source, payload
    )


def _insert_events(conn: Connection, records: Sequence[StoredEvent]) -> None:
    """One executemany INSERT for a batch of records."""
    if records:
        conn.execute(insert(EventRecord), [_row(record) for record in records])


class SqlEventLog:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def append(self, events: Sequence[Event]) -> list[StoredEvent]:
        for attempt, pause in enumerate(self._store.retry_delays, 1):
            try:
                return self._append_checked(events)
            except StoreUnavailable as exc:
                logger.warning(
                    "append failed; retrying",
                    extra={"attempt": attempt, "pause": pause, "error": str(exc)},
                )
                time.sleep(pause)
        return self._append_checked(events)

    def _append_checked(self, events: Sequence[Event]) -> list[StoredEvent]:
        try:
            try:
                return self._append(events)
            except IntegrityError:
                # Only reachable if something bypassed the head lock; the unique
                # key has refused the duplicate and nothing was written. Recompute.
                return self._append(events)
        except StatementError as exc:
            # Not "unavailable" (`write_session` turned those into StoreUnavailable):
            # the database took the statement and said no to what it held.
            reason = str(exc.orig or exc).strip().splitlines() or [type(exc).__name__]
            if "append-only" in reason[0]:
                raise AppendOnlyViolation(reason[0]) from exc
            raise StoreRefused(f"the database refused the write: {reason[0]}"[:500]) from exc

    def _append(self, events: Sequence[Event]) -> list[StoredEvent]:
        if not events:
            return []
        with self._store.write_session() as conn:
            head = conn.execute(_HEAD_FOR_UPDATE).scalar_one()
            keys = [e.event_key for e in events]
            seen: set[str] = set()
            for start in range(0, len(keys), KEY_CHUNK):
                chunk = keys[start : start + KEY_CHUNK]
                seen.update(conn.execute(_STORED_KEYS, {"keys": chunk}).scalars())
            # Through the stored text and back: the records returned must equal
            # what a read gives (UTC, microseconds), whatever zone the clock uses.
            recorded_at = parse_time(format_time(self._store.clock()))
            records: list[StoredEvent] = []
            for event_ in events:
                if event_.event_key in seen:
                    continue
                seen.add(event_.event_key)
                records.append(
                    StoredEvent(
                        position=head + len(records) + 1,
                        event_key=event_.event_key,
                        type=event_.type_name,
                        schema_version=SCHEMA_VERSION,
                        recorded_at=recorded_at,
                        source=event_.source,
                        payload=to_payload(event_),
                    )
                )
            if not records:
                return []
            _insert_events(conn, records)
            conn.execute(_SET_HEAD, {"head": head + len(records)})
            conn.commit()
            return records

    def restore(self, records: Iterable[StoredEvent]) -> int:
        """Write exported records as they were (positions, times) into an empty log.

        One transaction: a bad record (see `transfer.read_records`, which
        checks them as they are read) leaves the log empty. Returns the count.
        """
        with self._store.write_session() as conn:
            head = conn.execute(_HEAD_FOR_UPDATE).scalar_one()
            if head != 0:
                raise StoreError(f"an import needs an empty log; this one holds {head} events")
            batch: list[StoredEvent] = []
            for record in records:
                batch.append(record)
                head = record.position
                if len(batch) >= KEY_CHUNK:
                    _insert_events(conn, batch)
                    batch = []
            _insert_events(conn, batch)
            conn.execute(_SET_HEAD, {"head": head})
            conn.commit()
            return head

    def read(
        self, after: int = 0, upto: int | None = None, limit: int | None = None
    ) -> Iterator[StoredEvent]:
        query = sa_select(*_EVENT_COLUMNS).where(col(EventRecord.position) > after)
        if upto is not None:
            query = query.where(col(EventRecord.position) <= upto)
        query = query.order_by(col(EventRecord.position))
        if limit is not None:
            query = query.limit(limit)
        with self._store.read_session() as conn:
            rows = conn.execute(query).all()
        return iter([_stored(row) for row in rows])

    def head(self) -> int:
        with self._store.read_session() as conn:
            head = conn.execute(_HEAD).scalar()
            return int(head or 0)

    def position_at(self, when: datetime) -> int:
        query = sa_select(col(EventRecord.position)).where(
            col(EventRecord.recorded_at) <= format_time(when)
        )
        query = query.order_by(col(EventRecord.position).desc()).limit(1)
        with self._store.read_session() as conn:
            found = conn.execute(query).scalar()
        return int(found or 0)

    def recorded_since(self, when: datetime) -> dict[str, int]:
        # Grouped outside a subquery ordered by time: a plain GROUP BY made
        # SQLite walk the whole log in source order (ix_events_source) rather
        # than the range of recorded_at, and the ORDER BY keeps it on the range.
        recent = (
            sa_select(col(EventRecord.source))
            .where(col(EventRecord.recorded_at) > format_time(when))
            .order_by(col(EventRecord.recorded_at))
            .subquery()
        )
        query = sa_select(recent.c.source, func.count()).group_by(recent.c.source)
        with self._store.read_session() as conn:
            rows = conn.execute(query).all()
        return {source: int(count) for source, count in rows}


_State = TypeVar("_State", EntryState, SourceState)
# Per state type: every field, those stored as time text, those stored as JSON lists.
_STATE_SHAPES: dict[type, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    EntryState: (
        tuple(f.name for f in fields(EntryState)),
        ("published", "updated", "recorded_at"),
        ("categories",),
    ),
    SourceState: (
        tuple(f.name for f in fields(SourceState)),
        ("last_polled_at", "last_success_at", "updated", "not_before"),
        (),
    ),
}


def _state_values(state: EntryState | SourceState) -> dict[str, Any]:
    """A read-model state as its row's column values, times as fixed-width UTC text."""
    names = _STATE_SHAPES[type(state)][0]
    return _column_values(type(state), {name: getattr(state, name) for name in names})


def _column_values(state_type: type, values: dict[str, Any]) -> dict[str, Any]:
    """A state's field values (a copy) as its row's column values."""
    _, times, lists = _STATE_SHAPES[state_type]
    values = dict(values)
    for name in times:
        if values[name] is not None:
            values[name] = format_time(values[name])
    for name in lists:
        values[name] = json.dumps(list(values[name]), ensure_ascii=False)
    return values


def _field_values(row: Any, state_type: type) -> dict[str, Any]:
    """The inverse of `_column_values`, from an ORM row or a Core row alike."""
    names, times, lists = _STATE_SHAPES[state_type]
    values = {name: getattr(row, name) for name in names}
    for name in times:
        if values[name] is not None:
            values[name] = parse_time(values[name])
    for name in lists:
        values[name] = tuple(json.loads(values[name]))
    return values


def _row_to_state(row: Any, state_type: type[_State]) -> _State:
    return state_type(**_field_values(row, state_type))


def _upsert(conn: Connection, model: type[SQLModel], keys: Sequence[str], rows: list[Any]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE, as one executemany (both dialects have it)."""
    if not rows:
        return
    table: Any = model.__table__  # type: ignore[attr-defined]
    dialect = conn.dialect.name
    statement = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(table)
    changed = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changed), rows)


class _BufferedTarget:
    """Folds a batch in memory, then writes what changed with one upsert per table.

    The rows the batch touches are read up front, in chunks of IN queries,
    rather than one SELECT per entry: a replay folds millions of events. So
    are the ids of the batch's new entries that rows hold already (what
    `holds_id` answers); only an id the fold makes up for a later claimant
    is looked up on its own, and that happens only when two sources claimed
    one id.
    Entries are looked up a source at a time (`source = ? AND key IN (...)`):
    a row-value IN over (source, key) made SQLite scan the whole table for
    every chunk, so a replay slowed as the table grew.
    """

    def __init__(self, conn: Connection, events: Sequence[Event]) -> None:
        self._conn = conn
        self.entries: dict[tuple[str, str], EntryState | None] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.dirty_entries: set[tuple[str, str]] = set()
        self.dirty_sources: set[str] = set()
        self._arrivals: int | None = None  # read when the batch first needs it
        keys_by_source: dict[str, set[str]] = {}
        for e in events:
            if isinstance(e, EntryEvent | StoryLinked):
                keys_by_source.setdefault(e.source, set()).add(e.key)
        names = sorted({e.source for e in events})
        for source, key_set in sorted(keys_by_source.items()):
            keys = sorted(key_set)
            self.entries.update(dict.fromkeys((source, key) for key in keys))
            for start in range(0, len(keys), KEY_CHUNK):
                chunk = {"source": source, "keys": keys[start : start + KEY_CHUNK]}
                for row in conn.execute(_ENTRIES_KEYED, chunk):
                    self.entries[(row.source, row.key)] = _row_to_state(row, EntryState)
        self._asked = {
            e.entry_id
            for e in events
            if isinstance(e, EntryEvent) and self.entries[(e.source, e.key)] is None
        }
        self._held = self._holding(sorted(self._asked))
        for start in range(0, len(names), KEY_CHUNK):
            chunk_names = names[start : start + KEY_CHUNK]
            for row in conn.execute(_SOURCES_NAMED, {"names": chunk_names}):
                self.sources[row.name] = _field_values(row, SourceState)

    def get_entry(self, source: str, key: str) -> EntryState | None:
        return self.entries.get((source, key))

    def put_entry(self, entry: EntryState) -> None:
        self.entries[(entry.source, entry.key)] = entry
        self.dirty_entries.add((entry.source, entry.key))
        self._held.add(entry.entry_id)

    def edit_source(self, name: str) -> dict[str, Any]:
        values = self.sources.get(name)
        if values is None:
            values = self.sources[name] = blank_source(name)
        self.dirty_sources.add(name)
        return values

    def holds_id(self, entry_id: str) -> bool:
        if entry_id not in self._held and entry_id not in self._asked:
            self._held |= self._holding([entry_id])
        return entry_id in self._held

    def _holding(self, entry_ids: Sequence[str]) -> set[str]:
        """Those of `entry_ids` that stored rows hold."""
        return set(_owners(self._conn, entry_ids))

    def next_arrival(self) -> int:
        # Folding holds the checkpoint row's lock, so no other writer numbers
        # entries between this read and the flush.
        if self._arrivals is None:
            query = sa_select(func.max(col(EntryRow.arrival)))
            self._arrivals = int(self._conn.execute(query).scalar() or 0)
        self._arrivals += 1
        return self._arrivals

    def flush(self) -> None:
        entries = [self.entries[k] for k in sorted(self.dirty_entries)]
        entry_rows = [_state_values(e) for e in entries if e is not None]
        source_rows = [
            _column_values(SourceState, self.sources[n]) for n in sorted(self.dirty_sources)
        ]
        _upsert(self._conn, EntryRow, ("source", "key"), entry_rows)
        _upsert(self._conn, SourceRow, ("name",), source_rows)


def _owners(conn: Connection, entry_ids: Sequence[str]) -> dict[str, str]:
    """The source of the entry holding each of `entry_ids` that a row holds:
    one query on the unique entry_id index per `KEY_CHUNK` ids."""
    found: dict[str, str] = {}
    for start in range(0, len(entry_ids), KEY_CHUNK):
        chunk = entry_ids[start : start + KEY_CHUNK]
        found.update(
            (entry_id, source) for entry_id, source in conn.execute(_OWNERS, {"ids": chunk})
        )
    return found


_ENTRY_COLUMNS = tuple(col(getattr(EntryRow, f.name)) for f in fields(EntryState))
_SOURCE_COLUMNS = tuple(col(getattr(SourceRow, f.name)) for f in fields(SourceState))

# The statements every poll runs, built once: building a statement anew each
# time (columns, coercions, its cache key) was most of a 304 poll's store
# work, 3.8 ms of a fold of three events, before anything reached SQLite.
_HEAD = sa_select(col(LogHead.position)).where(col(LogHead.id) == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_SET_HEAD = update(LogHead).where(col(LogHead.id) == 1).values(position=bindparam("head"))
_STORED_KEYS = sa_select(col(EventRecord.event_key)).where(
    col(EventRecord.event_key).in_(bindparam("keys", expanding=True))
)
_CHECKPOINT = sa_select(col(Checkpoint.position)).where(col(Checkpoint.name) == PROJECTION)
_CHECKPOINT_FOR_UPDATE = _CHECKPOINT.with_for_update()
_CHECKPOINT_RECORDED = sa_select(col(Checkpoint.last_recorded_at)).where(
    col(Checkpoint.name) == PROJECTION
)
_SET_CHECKPOINT = (
    update(Checkpoint)
    .where(col(Checkpoint.name) == PROJECTION)
    .values(position=bindparam("reached"), last_recorded_at=bindparam("recorded"))
)
_SOURCE = sa_select(*_SOURCE_COLUMNS).where(col(SourceRow.name) == bindparam("name"))
_SOURCES_NAMED = sa_select(*_SOURCE_COLUMNS).where(
    col(SourceRow.name).in_(bindparam("names", expanding=True))
)
_OWNERS = sa_select(col(EntryRow.entry_id), col(EntryRow.source)).where(
    col(EntryRow.entry_id).in_(bindparam("ids", expanding=True))
)
_ENTRIES_KEYED = sa_select(*_ENTRY_COLUMNS).where(
    col(EntryRow.source) == bindparam("source"),
    col(EntryRow.key).in_(bindparam("keys", expanding=True)),
)
_DIGESTS = sa_select(
    col(EntryRow.key),
    col(EntryRow.entry_id),
    col(EntryRow.version),
    col(EntryRow.content_hash),
    col(EntryRow.updated),
    col(EntryRow.recorded_at),
).where(col(EntryRow.source) == bindparam("source"))


class SqlReadModel:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def checkpoint(self) -> int:
        with self._store.read_session() as conn:
            return int(conn.execute(_CHECKPOINT).scalar() or 0)

    def apply(self, records: Iterable[StoredEvent]) -> int:
        with self._store.write_session() as conn:
            # The row always exists (migration 0003): locking it serialises folds.
            position = conn.execute(_CHECKPOINT_FOR_UPDATE).scalar_one()
            pending = [(r, r.event()) for r in continuing(records, position)]
            if not pending:
                return int(position)
            target = _BufferedTarget(conn, [event_ for _, event_ in pending])
            for record, event_ in pending:
                fold(target, record, event_)
            last = pending[-1][0]
            target.flush()
            conn.execute(
                _SET_CHECKPOINT,
                {"reached": last.position, "recorded": format_time(last.recorded_at)},
            )
            conn.commit()
            return last.position

    def reset(self) -> None:
        with self._store.write_session() as conn:
            # The checkpoint row stays (zeroed): folding locks it to serialise writers.
            conn.execute(_CHECKPOINT_FOR_UPDATE).scalar_one()
            conn.execute(delete(EntryRow))
            conn.execute(delete(SourceRow))
            conn.execute(_SET_CHECKPOINT, {"reached": 0, "recorded": None})
            conn.commit()

    def entries(
        self, source: str | None = None, limit: int | None = None, story: str | None = None
    ) -> list[EntryState]:
        query = sa_select(*_ENTRY_COLUMNS)
        if source is not None:
            query = query.where(col(EntryRow.source) == source)
        if story is not None:
            query = query.where(col(EntryRow.story) == story)
        query = query.order_by(col(EntryRow.published).desc(), col(EntryRow.entry_id).desc())
        if limit is not None:
            query = query.limit(limit)
        with self._store.read_session() as conn:
            return [_row_to_state(row, EntryState) for row in conn.execute(query)]

    def owners(self, entry_ids: Iterable[str]) -> dict[str, str]:
        with self._store.read_session() as conn:
            return _owners(conn, sorted(set(entry_ids)))

    def arrivals(self) -> int:
        with self._store.read_session() as conn:
            query = sa_select(func.max(col(EntryRow.arrival)))
            return int(conn.execute(query).scalar() or 0)

    def arrived(self, first: int, last: int) -> list[EntryState]:
        # Sorted here, not in SQL: an ORDER BY in feed order could tempt the
        # planner into walking the feed-order index over the whole table.
        query = sa_select(*_ENTRY_COLUMNS).where(
            col(EntryRow.arrival) >= first, col(EntryRow.arrival) <= last
        )
        with self._store.read_session() as conn:
            rows = conn.execute(query).all()
        return newest_first(_row_to_state(row, EntryState) for row in rows)

    def arrival_sources(self, first: int, last: int) -> list[tuple[int, str]]:
        query = (
            sa_select(col(EntryRow.arrival), col(EntryRow.source))
            .where(col(EntryRow.arrival) >= first, col(EntryRow.arrival) <= last)
            .order_by(col(EntryRow.arrival))
        )
        with self._store.read_session() as conn:
            rows = conn.execute(query).all()
        return [(int(arrival), str(source)) for arrival, source in rows]

    def numbered(self, arrivals: Collection[int]) -> list[EntryState]:
        wanted = sorted(set(arrivals))
        found: list[EntryState] = []
        with self._store.read_session() as conn:
            for start in range(0, len(wanted), KEY_CHUNK):
                chunk = wanted[start : start + KEY_CHUNK]
                query = sa_select(*_ENTRY_COLUMNS).where(col(EntryRow.arrival).in_(chunk))
                rows = conn.execute(query).all()
                found.extend(_row_to_state(row, EntryState) for row in rows)
        return newest_first(found)

    def changed_since(self, position: int) -> list[int]:
        query = sa_select(col(EntryRow.arrival)).where(col(EntryRow.changed) > position)
        with self._store.read_session() as conn:
            return [int(arrival) for arrival in conn.execute(query).scalars()]

    def digests(self, source: str) -> dict[str, EntryDigest]:
        with self._store.read_session() as conn:
            rows = conn.execute(_DIGESTS, {"source": source}).all()
        return {
            key: EntryDigest(
                entry_id,
                version,
                digest,
                parse_time(updated),
                None if recorded is None else parse_time(recorded),
            )
            for key, entry_id, version, digest, updated, recorded in rows
        }

    def sources(self) -> dict[str, SourceState]:
        with self._store.read_session() as conn:
            rows = conn.execute(sa_select(*_SOURCE_COLUMNS))
            return {row.name: _row_to_state(row, SourceState) for row in rows}

    def source(self, name: str) -> SourceState | None:
        with self._store.read_session() as conn:
            row = conn.execute(_SOURCE, {"name": name}).first()
            return None if row is None else _row_to_state(row, SourceState)

    def last_recorded_at(self) -> datetime | None:
        with self._store.read_session() as conn:
            recorded = conn.execute(_CHECKPOINT_RECORDED).scalar()
            return None if recorded is None else parse_time(recorded)
