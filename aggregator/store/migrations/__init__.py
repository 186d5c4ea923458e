"""Schema migrations: Alembic scripts over the SQLModel tables, run in-process.

`upgrade` brings a database to the newest revision and is what every
command does when it opens a store (so the embedded default needs no setup)
and what `aggregator db upgrade` does on purpose. It is cheap when there is
nothing to do: one read of `alembic_version`, without loading Alembic.

Several processes may start at once against a new database, so the upgrade
runs inside one write transaction that also serialises them: SQLite's
`BEGIN IMMEDIATE` (the store's writer engine) or a PostgreSQL transaction
advisory lock. Both databases have transactional DDL, so a failed migration
leaves the previous revision whole.

Databases created before migrations existed (issues 2-4 used `create_all`)
have the tables but no `alembic_version`; they are stamped at the revision
their columns match and upgraded from there, never re-created.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, inspect

SCRIPTS = Path(__file__).resolve().parent
HEAD = "0009"
_PG_LOCK_KEY = 4_207_117_312  # any constant; the advisory lock is ours by convention


def revision(connection: Connection) -> str | None:
    """The database's revision; None when it has no version table."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    found = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return str(found) if found is not None else None


def upgrade(engine: Engine, writer: Engine) -> tuple[str | None, str]:
    """Bring the database to HEAD; return (revision before, revision after)."""
    with engine.connect() as connection:
        before = revision(connection)
    if before == HEAD:
        return before, HEAD
    from alembic import command
    from alembic.config import Config

    with writer.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        before = revision(connection)  # again: another process may have just migrated
        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        config.attributes["connection"] = connection
        if before is None and inspect(connection).has_table("events"):
            command.stamp(config, _legacy_revision(connection))
        command.upgrade(config, "head")
    return before, HEAD


def _legacy_revision(connection: Connection) -> str:
    columns = {column["name"] for column in inspect(connection).get_columns("source_status")}
    return "0002" if "not_before" in columns else "0001"
