"""Writing documents to disk, atomically, and what the archive pages on disk were rendered from.

A reader (or a web server in front of `output_dir`) must never see a
half-written file, so each file is written to a temporary name in the same
directory, flushed to disk and renamed over the old one, which POSIX makes
atomic. Files whose bytes did not change are left alone so their
modification time stays meaningful.

Rendering every archive page would grow with the log, so only the pages
touched since the last write are rendered, and `archive/.state.json` records
what the pages on disk were rendered from (log position, paging,
configuration digest) for the next process to carry on from. Where the
pages are is the catalog's (`publish.catalog`); this module only writes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from aggregator.publish.archive import Baseline, Paging

ARCHIVE_STATE = ".state.json"  # beside the page files


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace `path` with `data`; return False (and write nothing) if unchanged."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_stream(path, [data])
    return True


def write_stream(path: Path, chunks: Iterable[bytes]) -> None:
    """Replace `path` with the chunks, atomically, never holding them all in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_baseline(directory: Path) -> Baseline | None:
    """What the page files in `directory` were rendered from; None when unknown
    or unreadable."""
    try:
        data = json.loads((directory / ARCHIVE_STATE).read_text(encoding="utf-8"))
        paging = Paging(int(data["entries"]), int(data["window"]), int(data["size"]))
        baseline = Baseline(paging, int(data["position"]), str(data["key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if paging.window < 1 or paging.size < 1 or paging.entries < 0 or baseline.position < 0:
        return None
    return baseline


def write_baseline(directory: Path, baseline: Baseline) -> None:
    paging = baseline.paging
    data = {
        "position": baseline.position,
        "entries": paging.entries,
        "window": paging.window,
        "size": paging.size,
        "key": baseline.key,
    }
    write_atomic(directory / ARCHIVE_STATE, (json.dumps(data, sort_keys=True) + "\n").encode())


def forget_baseline(directory: Path) -> None:
    (directory / ARCHIVE_STATE).unlink(missing_ok=True)
