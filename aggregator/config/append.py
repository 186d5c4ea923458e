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
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from aggregator.config import Settings, load_settings
from aggregator.core.errors import AggregatorError


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise error(
            f"{config}: cannot write a file beside it to check the result "
            f"({exc.strerror or exc}); nothing was written"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(appended(before, tables))
            handle.flush()
            os.fsync(handle.fileno())
        settings = load_settings(Path(tmp))
        check(settings)
        if commit:
            if target.read_bytes() != before:
                raise error(f"{config}: changed meanwhile; nothing was written, try again")
            _keep_owner_and_mode(target, tmp)
            os.replace(tmp, target)
            _sync_directory(target.parent)
        return settings
    finally:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)


def _keep_owner_and_mode(original: Path, replacement: str) -> None:
    """The new file gets the old one's permissions (mkstemp makes 0600), and its
    owner where we may set it."""
    info = original.stat()
    os.chmod(replacement, stat.S_IMODE(info.st_mode))
    with contextlib.suppress(OSError):
        os.chown(replacement, info.st_uid, info.st_gid)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable; a system that cannot sync a directory still renamed."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
