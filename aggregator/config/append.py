"""Appending `[[sources]]` tables to a config file: checked by the loader, written atomically.

`aggregator add` and `aggregator opml import` both grow the config this way,
so both keep the same promises: the file's bytes stay as they were, followed
by the new tables in the file's own newlines; the result is loaded with
`load_settings` (the loader every command uses) from a temporary file beside
the config, so relative paths in it mean what they mean in the config; only
then is it renamed over the config, with the config's mode and owner, and
only if nobody changed the config meanwhile. A check that is not a commit
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from aggregator.config import Settings, load_settings
from aggregator.core.errors import AggregatorError
from aggregator.core.files import replacement


def appended(before: bytes, tables: str) -> bytes:
    """The config's bytes untouched, then the tables, in the file's newlines."""
    newline = "\r\n" if b"\r\n" in before else "\n"
    prefix = b"" if not before or before.endswith(b"\n") else newline.encode()
    return before + prefix + tables.replace("\n", newline).encode("utf-8")


def append_checked(
    config: Path,
    before: bytes,
    tables: str,
    *,
    commit: bool,
    check: Callable[[Settings], None] = lambda settings: None,
    error: Callable[[str], AggregatorError] = AggregatorError,
) -> Settings:
    """Load the config with `tables` appended; when `commit`, write it (see the module).

    `ConfigError` from the loader propagates for the caller to word; `check`
    may refuse the loaded settings before anything is written; `error`
    builds the caller's own error for a config that cannot be written.
    """
    target = config.resolve()  # a symlinked config is written through, not replaced
    with contextlib.ExitStack() as stack:
        try:
            new = stack.enter_context(replacement(target, [appended(before, tables)]))
        except OSError as exc:
            raise error(
                f"{config}: cannot write a file beside it to check the result "
                f"({exc.strerror or exc}); nothing was written"
            ) from None
        settings = load_settings(new.staged)
        check(settings)
        if commit:
            if target.read_bytes() != before:
                raise error(f"{config}: changed meanwhile; nothing was written, try again")
            new.commit(mode=None, keep_owner=True, sync=True)
        return settings
