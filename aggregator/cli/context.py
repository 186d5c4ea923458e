"""What every `aggregator` command is handed: one `Context`, one handler signature.

Each subcommand's parser names its handler (`cli.main.HANDLERS`), a `Handler`
taking the context and returning the exit status. The context loads the
config when first asked for it and nothing else, so the cost and the failure
modes follow the command: `try` and `opml import` never load the config.
A handler that needs the store opens it with `cli.database.configured_store`
(`opml export`, `fixtures` and `try`/`add` never do; `db` opens it
unmigrated), which hands it to the context, and `cli.main` closes the
context once the handler returns. The store is not opened through the
context itself because every command, and `--help`, imports this module:
it imports no SQLAlchemy, so that they need not. It lives apart from
`cli.main` so that the handlers' modules can take it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from aggregator.config import Settings, config_path, load_settings

# 0 success; 1 the command ran but a source failed (or found nothing); 2 the
# command could not run (bad configuration, bad arguments, unreachable database).
EXIT_OK, EXIT_SOURCE_FAILED, EXIT_UNUSABLE = 0, 1, 2


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


class Context:
    """The parsed arguments, the config loaded when first asked for, and what
    the handler opened (closed with the context)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._settings: Settings | None = None
        self._opened: list[Closable] = []

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

    def opened(self, resource: C) -> C:
        """`resource`, to be closed with the context."""
        self._opened.append(resource)
        return resource

    def close(self) -> None:
        """Close what was opened, the last first."""
        while self._opened:
            self._opened.pop().close()


Handler = Callable[[Context], int]


__all__ = ["EXIT_OK", "EXIT_SOURCE_FAILED", "EXIT_UNUSABLE", "Context", "Handler"]
