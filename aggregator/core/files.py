"""Replacing a file atomically: the one writer of every file the aggregator writes.

A reader (a feed reader, the web server, the config loader of a running
service) must never see a half-written file, so the new bytes go to a
temporary file in the same directory, are flushed to disk, and the
temporary file is renamed over the old one, which POSIX makes atomic.

`Replacement` is the two steps apart, for a writer that checks what it
wrote before it commits (the config appender loads the new config from the
temporary file first); `write_stream` and `write_atomic` are the two steps
at once, for feed documents and exports.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

WRITERS = 16  # files written at once by `write_all`


class Replacement:
    """New bytes for `target`, written to `staged` beside it; `commit` puts them in place."""

    def __init__(self, target: Path, staged: Path) -> None:
        self.target = target
        self.staged = staged

    def commit(
        self, mode: int | None = 0o644, keep_owner: bool = False, sync: bool = False
    ) -> None:
        """Rename over the target. `mode` None keeps the target's permissions
        (mkstemp makes 0600), `keep_owner` its owner where we may set it, and
        `sync` makes the rename durable by syncing the directory."""
        if mode is None or keep_owner:
            info = self.target.stat()
            os.chmod(self.staged, stat.S_IMODE(info.st_mode) if mode is None else mode)
            if keep_owner:
                with contextlib.suppress(OSError):
                    os.chown(self.staged, info.st_uid, info.st_gid)
        else:
            os.chmod(self.staged, mode)
        os.replace(self.staged, self.target)
        if sync:
            _sync_directory(self.target.parent)


@contextmanager
def replacement(target: Path, chunks: Iterable[bytes]) -> Iterator[Replacement]:
    """Write `chunks` beside `target` (never holding them all in memory) and
    yield the `Replacement`; what is not committed is removed on leaving."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    staged = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        yield Replacement(target, staged)
    finally:
        with contextlib.suppress(OSError):
            staged.unlink(missing_ok=True)


def write_stream(path: Path, chunks: Iterable[bytes]) -> None:
    """Replace `path` with the chunks, atomically, as a world-readable file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacement(path, chunks) as new:
        new.commit()


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace `path` with `data`; return False (and write nothing) if unchanged,
    so an unchanged file keeps a modification time that means something."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_stream(path, [data])
    return True


def write_all(files: Sequence[tuple[Path, bytes]]) -> list[bool]:
    """`write_atomic` for each (path, data), several at once; whether each was written.

    Each file is still flushed to disk before its rename. Flushing many at
    once lets the filesystem's journal commit them together: 500 files of
    20 kB took 1.54 s one after another and 0.11 s sixteen at a time (ext4,
    this machine), and a cold collect of 1,000 sources writes 2,198.
    """
    if len(files) < 2:
        return [write_atomic(path, data) for path, data in files]
    with ThreadPoolExecutor(min(WRITERS, len(files)), thread_name_prefix="write") as pool:
        return list(pool.map(lambda file: write_atomic(*file), files))


def _sync_directory(directory: Path) -> None:
    """Make a rename durable; a system that cannot sync a directory still renamed."""
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
