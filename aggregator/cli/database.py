"""The configured store, as a command's handler opens it.

A handler asks for the store here rather than through its `Context`, so
that the context, which every command and `--help` import, does not import
the store (SQLAlchemy and SQLModel).
"""

from __future__ import annotations

from aggregator.cli.context import Context
from aggregator.core.errors import AggregatorError, StoreError
from aggregator.store import open_store
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


__all__ = ["configured_store"]
