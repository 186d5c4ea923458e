"""Schema migrations on both databases: fresh, legacy, concurrent, and the CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from aggregator.core.events import EntryAdded, SourceFailed, SourceNotModified, SourcePolled
from aggregator.store import migrations, open_store
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryReadModel
from aggregator.store.sql import SqlStore
from tests.conftest import seed_config_text
from tests.support import SEEDS, ManualClock
from tests.test_store_contract import added, revised


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'migrated.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


def poll_event(n: int) -> SourceNotModified:
    return SourceNotModified(
        source="s", poll_id=f"p{n}", fetched_at=datetime(2026, 11, 23, tzinfo=UTC)
    )


def rewound(store: SqlStore, version: str, *statements: str) -> tuple[MemoryReadModel, SqlStore]:
    """Fold `store`, undo a migration by hand (`statements`, then the version
    it started from), reopen: the read model a fold gives, and the store
    the migration has now run on."""
    catch_up(store.log, store.read_model)
    expected = MemoryReadModel()
    catch_up(store.log, expected)
    url = store.url
    with store.write_session() as session:
        for statement in statements:
            session.execute(text(statement))
        session.execute(text(f"UPDATE alembic_version SET version_num = '{version}'"))
        session.commit()
    store.close()
    return expected, open_store(url)


def test_a_new_database_is_created_at_head_matching_the_models(url: str) -> None:
    store = open_store(url)
    try:
        with store.engine.connect() as connection:
            assert migrations.revision(connection) == migrations.HEAD
            differences = compare_metadata(
                MigrationContext.configure(connection), SQLModel.metadata
            )
        assert differences == []
        assert store.log.append([poll_event(1)])[0].position == 1
        # The baseline migration installed the append-only triggers.
        with pytest.raises(DBAPIError, match="append-only"), store.write_session() as session:
            session.execute(text("DELETE FROM events"))
    finally:
        store.close()


@pytest.mark.parametrize("had_not_before", [False, True])
def test_a_database_from_before_migrations_is_stamped_and_upgraded(
    url: str, had_not_before: bool
) -> None:
    # Build what create_all made in earlier builds: the tables, no version table,
    # and none of the columns added since (the entries' story came in 0005, their
    # arrival and changed in 0006, the sources' last_error_kind in 0007, the
    # unique index on entry_id in 0008, the entries' recorded_at in 0009).
    store = SqlStore(url)
    store.create_schema()
    store.log.append([poll_event(1)])
    with store.write_session() as session:
        session.execute(text("DROP TABLE alembic_version"))
        session.execute(text("DROP INDEX ix_entries_entry_id"))
        session.execute(text("DROP INDEX ix_entries_story"))
        session.execute(text("ALTER TABLE entries DROP COLUMN story"))
        for column in ("arrival", "changed"):
            session.execute(text(f"DROP INDEX ix_entries_{column}"))
            session.execute(text(f"ALTER TABLE entries DROP COLUMN {column}"))
        session.execute(text("ALTER TABLE source_status DROP COLUMN last_error_kind"))
        session.execute(text("ALTER TABLE entries DROP COLUMN recorded_at"))
        if not had_not_before:
            session.execute(text("ALTER TABLE source_status DROP COLUMN not_before"))
        session.commit()
    store.close()

    reopened = SqlStore(url)
    try:
        before, after = reopened.create_schema()
        assert (before, after) == (None, migrations.HEAD)
        columns = {c["name"] for c in inspect(reopened.engine).get_columns("source_status")}
        assert {"not_before", "last_error_kind"} <= columns
        entry_columns = {c["name"] for c in inspect(reopened.engine).get_columns("entries")}
        assert {"story", "arrival", "changed", "recorded_at"} <= entry_columns
        assert [r.event_key for r in reopened.log.read()] == ["poll:s:p1"]
        assert reopened.log.append([poll_event(2)])[0].position == 2
    finally:
        reopened.close()


def test_the_error_kind_migration_sets_what_a_fold_would(url: str) -> None:
    when = datetime(2026, 11, 23, tzinfo=UTC)

    def failed(source: str, n: int, kind: str, reason: str) -> SourceFailed:
        return SourceFailed(
            source=source, poll_id=f"f{n}", fetched_at=when, kind=kind, reason=reason
        )

    store = open_store(url)
    store.log.append(
        [
            failed("a", 1, "timeout", "read timed out"),
            failed("b", 2, "timeout", "read timed out"),
            # A reason with ": " in it: the kind is what precedes the first.
            failed("b", 3, "no-updates", "b: no timestamped update line: none"),
            failed("c", 4, "http-status", "HTTP 503"),
            SourcePolled(source="c", poll_id="p5", fetched_at=when),
            poll_event(6),
        ]
    )
    expected, reopened = rewound(
        store,
        "0006",
        "ALTER TABLE source_status DROP COLUMN last_error_kind",
        "ALTER TABLE entries DROP COLUMN recorded_at",
    )
    try:
        migrated = reopened.read_model.sources()
        assert {name: s.last_error_kind for name, s in migrated.items()} == {
            "a": "timeout",
            "b": "no-updates",
            "c": None,
            "s": None,
        }
        assert migrated == expected.sources()
    finally:
        reopened.close()


def test_the_entry_id_migration_renames_shared_ids_as_a_fold_would(url: str) -> None:
    """A read model folded before 0008 may hold one id twice; 0008 leaves it as a refold."""
    taken = "tag:example.org,2020:good/1"

    def claim(source: str, key: str, minute: int, entry_id: str = taken) -> EntryAdded:
        when = datetime(2026, 11, 23, 8, minute, tzinfo=UTC)
        return EntryAdded(
            source=source,
            key=key,
            entry_id=entry_id,
            version=1,
            title=key,
            content_html="",
            published=when,
            updated=when,
            link=None,
            author=None,
            content_hash=f"v1:{key}",
        )

    store = open_store(url)
    store.log.append(
        [
            claim("good", "1", 0),
            claim("spoof", "1", 1),
            claim("other", "x", 2, "tag:example.org,2020:other/x"),
            # Holds, verbatim, what renaming the third claimant would first give.
            claim("squat", "s", 3, f"{taken}/spoof/5"),
            claim("spoof", "2", 4),
        ]
    )
    # Back to what the fold before 0008 made: every claimant kept the id.
    expected, reopened = rewound(
        store,
        "0007",
        "DROP INDEX ix_entries_entry_id",
        f"UPDATE entries SET entry_id = '{taken}' WHERE source = 'spoof'",
        "ALTER TABLE entries DROP COLUMN recorded_at",  # 0009's
    )
    try:
        migrated = {(e.source, e.key): e.entry_id for e in reopened.read_model.entries()}
        assert migrated == {(e.source, e.key): e.entry_id for e in expected.entries()}
        assert migrated[("spoof", "2")] == f"{taken}/spoof/5/spoof/5"
        assert len(set(migrated.values())) == len(migrated) == 5
    finally:
        reopened.close()


def test_the_recorded_at_migration_sets_what_a_fold_would(url: str) -> None:
    clock = ManualClock()
    store = open_store(url, clock=clock)
    first = added("a")
    store.log.append([first, added("b")])
    clock.advance(minutes=12)
    store.log.append([revised(first, "t2")])
    expected, reopened = rewound(
        store,
        "0008",
        "ALTER TABLE entries DROP COLUMN recorded_at",
    )
    try:
        migrated = reopened.read_model.digests("s")
        assert migrated == expected.digests("s")
        assert migrated["a"].recorded_at == clock.now
        assert migrated["b"].recorded_at == clock.now - timedelta(minutes=12)
    finally:
        reopened.close()


def test_processes_starting_together_migrate_once(url: str) -> None:
    errors: list[BaseException] = []
    stores: list[SqlStore] = []

    def start() -> None:
        try:
            stores.append(open_store(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == [] and len(stores) == 4
        engine = create_engine(stores[0].engine.url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM log_head")).scalar() == 1
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        engine.dispose()
    finally:
        for store in stores:
            store.close()


def test_db_commands(tmp_path: Path) -> None:
    config = tmp_path / "agg.toml"
    config.write_text(
        seed_config_text(SEEDS, tmp_path / "db.sqlite", tmp_path / "feeds"), encoding="utf-8"
    )
    base = [sys.executable, "-m", "aggregator", "--config", str(config), "db"]

    def db(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, action], capture_output=True, text=True, timeout=60)

    status = db("status")
    assert status.returncode == 1 and "revision none" in status.stdout
    assert "needs 'aggregator db upgrade'" in status.stdout
    upgraded = db("upgrade")
    assert upgraded.returncode == 0
    assert f"upgraded from an empty database to revision {migrations.HEAD}" in upgraded.stdout
    assert "nothing to do" in db("upgrade").stdout
    status = db("status")
    assert status.returncode == 0 and "up to date" in status.stdout
    assert "log head: position 0" in status.stdout
