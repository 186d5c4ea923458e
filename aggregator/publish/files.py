"""Writing the feed documents to disk, atomically.

A reader (or the web server) must never see a half-written feed, so each file
is written to a temporary name in the same directory, flushed to disk and
renamed over the old one, which POSIX makes atomic. Files whose bytes did not
change are left alone so their modification time stays meaningful.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from aggregator.config import Settings
from aggregator.publish.atom import merged_head, render_feed, source_head
from aggregator.store.base import ReadModel, SourceState


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


def render_merged(settings: Settings, model: ReadModel) -> bytes:
    sources = {s.name: s for s in settings.sources}
    entries = model.entries(limit=settings.feed.max_entries)
    return render_feed(merged_head(settings.feed), entries, sources, model.last_recorded_at())


def merged_feed_path(settings: Settings) -> Path:
    return settings.feed.output_dir / "feed.atom"


def source_feed_path(settings: Settings, name: str) -> Path:
    return settings.feed.output_dir / "sources" / f"{name}.atom"


def render_sources(
    settings: Settings,
    model: ReadModel,
    only: Collection[str] | None = None,
    states: Mapping[str, SourceState] | None = None,
) -> dict[str, bytes]:
    """One feed document per configured source (or per source named in `only`).

    A source's document depends on that source's events alone: its entries,
    and for a feed with no entry yet the time of its last poll. So after new
    events only the sources they concern need rendering again. `states` is
    `model.sources()`, when the caller has already read it.
    """
    sources = {s.name: s for s in settings.sources}
    states = model.sources() if states is None else states
    documents: dict[str, bytes] = {}
    for source in settings.sources:
        if only is not None and source.name not in only:
            continue
        state = states.get(source.name)
        entries = model.entries(source=source.name, limit=settings.feed.max_entries)
        documents[source.name] = render_feed(
            source_head(settings.feed, source),
            entries,
            sources,
            state.last_polled_at if state is not None else None,
        )
    return documents


def write_documents(settings: Settings, merged: bytes, sources: dict[str, bytes]) -> Path:
    """Write the per-source feeds, then the merged feed; return the merged feed's path."""
    for name, document in sources.items():
        write_atomic(source_feed_path(settings, name), document)
    path = merged_feed_path(settings)
    write_atomic(path, merged)
    return path


def regenerate(settings: Settings, model: ReadModel) -> Path:
    """Write the merged feed and one feed per source; return the merged feed's path."""
    return write_documents(
        settings, render_merged(settings, model), render_sources(settings, model)
    )
