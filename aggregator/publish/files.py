"""Writing the feed documents to disk, atomically.

A reader (or the web server) must never see a half-written feed, so each file
is written to a temporary name in the same directory, flushed to disk and
renamed over the old one, which POSIX makes atomic. Files whose bytes did not
change are left alone so their modification time stays meaningful.

Every feed is published twice, as Atom and as JSON Feed 1.1, side by side
(`feed.atom` and `feed.json`, `sources/<name>.atom` and `sources/<name>.json`).
Both formats are rendered from one read of the model, so the two documents of
a feed can never disagree about which entries it holds.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aggregator.config import Settings
from aggregator.publish import jsonfeed
from aggregator.publish.atom import merged_head, render_feed, source_head, story_head
from aggregator.store.base import ReadModel, SourceState


@dataclass(frozen=True, slots=True)
class FeedDocuments:
    """One feed in each published format, rendered from the same entries."""

    atom: bytes
    json: bytes


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
    """The merged Atom feed alone (for `aggregator feed` and the tests)."""
    return render_merged_documents(settings, model).atom


def render_merged_documents(settings: Settings, model: ReadModel) -> FeedDocuments:
    """The merged feed as Atom and JSON Feed, from one read of the latest entries."""
    sources = {s.name: s for s in settings.sources}
    entries = model.entries(limit=settings.feed.max_entries)
    return FeedDocuments(
        atom=render_feed(merged_head(settings.feed), entries, sources, model.last_recorded_at()),
        json=jsonfeed.render_json_feed(jsonfeed.merged_head(settings.feed), entries, sources),
    )


def merged_feed_path(settings: Settings) -> Path:
    return settings.feed.output_dir / "feed.atom"


def merged_json_path(settings: Settings) -> Path:
    return settings.feed.output_dir / "feed.json"


def source_feed_path(settings: Settings, name: str) -> Path:
    return settings.feed.output_dir / "sources" / f"{name}.atom"


def source_json_path(settings: Settings, name: str) -> Path:
    return settings.feed.output_dir / "sources" / f"{name}.json"


def render_sources(
    settings: Settings,
    model: ReadModel,
    only: Collection[str] | None = None,
    states: Mapping[str, SourceState] | None = None,
) -> dict[str, bytes]:
    """The per-source Atom feeds alone (see `render_source_documents`)."""
    documents = render_source_documents(settings, model, only, states)
    return {name: pair.atom for name, pair in documents.items()}


def render_source_documents(
    settings: Settings,
    model: ReadModel,
    only: Collection[str] | None = None,
    states: Mapping[str, SourceState] | None = None,
) -> dict[str, FeedDocuments]:
    """One feed per configured source (or per source named in `only`), in both formats.

    A source's document depends on that source's events alone: its entries,
    and for an Atom feed with no entry yet the time of its last poll. So after
    new events only the sources they concern need rendering again. `states`
    is `model.sources()`, when the caller has already read it.
    """
    sources = {s.name: s for s in settings.sources}
    states = model.sources() if states is None else states
    documents: dict[str, FeedDocuments] = {}
    for source in settings.sources:
        if only is not None and source.name not in only:
            continue
        state = states.get(source.name)
        entries = model.entries(source=source.name, limit=settings.feed.max_entries)
        documents[source.name] = FeedDocuments(
            atom=render_feed(
                source_head(settings.feed, source),
                entries,
                sources,
                state.last_polled_at if state is not None else None,
            ),
            json=jsonfeed.render_json_feed(
                jsonfeed.source_head(settings.feed, source), entries, sources
            ),
        )
    return documents


def write_documents(
    settings: Settings, merged: FeedDocuments, sources: Mapping[str, FeedDocuments]
) -> Path:
    """Write the per-source feeds, then the merged feed, each as Atom and JSON;
    return the merged Atom feed's path (the one the CLI reports).

    The merged Atom feed is still written last, as before the JSON documents
    existed, so anything that takes its change as "the feeds are written"
    keeps seeing it after every other file.
    """
    for name, pair in sources.items():
        write_atomic(source_feed_path(settings, name), pair.atom)
        write_atomic(source_json_path(settings, name), pair.json)
    write_atomic(merged_json_path(settings), merged.json)
    path = merged_feed_path(settings)
    write_atomic(path, merged.atom)
    return path


def regenerate(settings: Settings, model: ReadModel) -> Path:
    """Write the merged feed and one feed per source, in both formats; return the
    merged Atom feed's path."""
    return write_documents(
        settings,
        render_merged_documents(settings, model),
        render_source_documents(settings, model),
    )


def render_story_documents(
    settings: Settings, model: ReadModel, story: str
) -> FeedDocuments | None:
    """A story's feed in both formats: every member, newest first; None if no
    entry is in `story`. Served on request rather than written to `output_dir`:
    stories come and go with the log, and each is a few entries."""
    entries = model.entries(story=story)
    if not entries:
        return None
    sources = {s.name: s for s in settings.sources}
    first = min(entries, key=lambda e: (e.published, e.source, e.key)).title
    return FeedDocuments(
        atom=render_feed(story_head(settings.feed, story, first), entries, sources, None),
        json=jsonfeed.render_json_feed(
            jsonfeed.story_head(settings.feed, story, first), entries, sources
        ),
    )
