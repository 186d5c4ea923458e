"""What every `aggregator` command is handed: one `Context`, one handler signature.

Each subcommand's parser names its handler (`set_defaults(handler=...)`), a
`Handler` taking the context and returning the exit status. The context
makes what a command asks for on first use and nothing else, so the cost and
the failure modes follow the command: `try` and `opml import` never load the
config, `opml export`, `fixtures` and `db` never open the store (`db` opens
its own, unmigrated), and a command that does open it has it closed by
`cli.main`. It lives apart from `cli.main` so that `cli.onboard`, which
`cli.main` imports, can take it too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from aggregator.config import Settings, config_path, load_settings
from aggregator.core.errors import AggregatorError, StoreError
from aggregator.store import open_store
from aggregator.store.sql import SqlStore

# 0 success; 1 the command ran but a source failed (or found nothing); 2 the
# command could not run (bad configuration, bad arguments, unreachable database).
EXIT_OK, EXIT_SOURCE_FAILED, EXIT_UNUSABLE = 0, 1, 2


class Context:
    """The parsed arguments, and the config and store made when first asked for."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._settings: Settings | None = None
        self._store: SqlStore | None = None

    @property
    def config_path(self) -> Path:
        """The config file named by `--config`, $AGGREGATOR_CONFIG or the default;
        not read (it may not exist yet, or have no sources)."""
        return config_path(self.args.config)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def store(self) -> SqlStore:
        """The configured store, migrated to the newest schema; opening it creates it."""
        if self._store is None:
            self._store = open_configured_store(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


Handler = Callable[[Context], int]


def open_configured_store(settings: Settings, migrate: bool = True) -> SqlStore:
    """`open_store`, its error prefixed with the file and key the URL came from:
    that is where the reader has to fix it (the URL in it has no password)."""
    try:
        return open_store(settings.database_url, migrate=migrate)
    except StoreError as exc:
        raise AggregatorError(f"{settings.path}: {settings.database_key}: {exc}") from exc


__all__ = [
    "EXIT_OK",
    "EXIT_SOURCE_FAILED",
    "EXIT_UNUSABLE",
    "Context",
    "Handler",
    "open_configured_store",
]
