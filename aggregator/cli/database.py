"""The configured store, as a command's handler opens it, and `aggregator db`.

A handler asks for the store here rather than through its `Context`, so
that the context, which every command and `--help` import, does not import
the store (SQLAlchemy and SQLModel); only the modules of the handlers that
open one import this module.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from aggregator.cli.context import EXIT_OK, EXIT_SOURCE_FAILED, Context
from aggregator.core.errors import AggregatorError, StoreError
from aggregator.store import migrations, open_store
from aggregator.store.sql import SqlStore


def configured_store(ctx: Context, migrate: bool = True) -> SqlStore:
    """The configured store, migrated to the newest schema unless `migrate` is
    off, and closed with `ctx`; opening it creates it.

    An error is prefixed with the file and key the URL came from: that is
    where the reader has to fix it (the URL in it has no password).
    """
    settings = ctx.settings
    try:
        store = open_store(settings.database_url, migrate=migrate)
    except StoreError as exc:
        raise AggregatorError(f"{settings.path}: {settings.database_key}: {exc}") from exc
    return ctx.opened(store)


def cmd_db(ctx: Context) -> int:
    """Schema work on purpose (every other command also upgrades on opening), so
    the store is opened without migrating."""
    settings, args = ctx.settings, ctx.args
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    store = configured_store(ctx, migrate=False)
    if args.action == "upgrade":
        before, after = store.create_schema()
        if before == after:
            print(f"{shown}: at revision {after}, nothing to do")
        else:
            print(f"{shown}: upgraded from {before or 'an empty database'} to revision {after}")
        return EXIT_OK
    with store.engine.connect() as connection:
        current = migrations.revision(connection)
    state = "up to date" if current == migrations.HEAD else "needs 'aggregator db upgrade'"
    print(f"{shown}: revision {current or 'none'} (newest {migrations.HEAD}; {state})")
    if current is not None:
        print(f"log head: position {store.log.head()}")
    return EXIT_OK if current == migrations.HEAD else EXIT_SOURCE_FAILED


__all__ = ["cmd_db", "configured_store"]
