"""Writing the feed documents to disk, atomically.

A reader (or the web server) must never see a half-written feed, so each file
is written to a temporary name in the same directory, flushed to disk and
renamed over the old one, which POSIX makes atomic. Files whose bytes did not
change are left alone so their modification time stays meaningful.

Every feed is published twice, as Atom and as JSON Feed 1.1, side by side
(`feed.atom` and `feed.json`, `sources/<name>.atom` and `sources/<name>.json`).
Both formats are rendered from one read of the model, so the two documents of
a feed can never disagree about which entries it holds.

The merged feed's archive pages (`archive/<n>.atom`, see `publish.archive`)
are written before the feeds, so the subscription feed's `prev-archive` link
never names a page that is not on disk yet. Rendering every page would grow
with the log, so only the pages touched since the last write are rendered,
and `archive/.state.json` records what the pages on disk were rendered from
(log position, paging, configuration digest) for the next process to carry
on from. Without it, or after a configuration change, every page is
rendered once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aggregator.config import Settings
from aggregator.publish import jsonfeed
from aggregator.publish.archive import (
    Baseline,
    Paging,
    pages_to_render,
    render_key,
    render_page,
    subscription_history,
)
from aggregator.publish.atom import merged_head, render_feed, source_head, story_head
from aggregator.store.base import EntryState, ReadModel, SourceState

ARCHIVE_DIR = "archive"
ARCHIVE_STATE = ".state.json"
_PAGE_FILE = re.compile(r"([1-9][0-9]*)\.atom")


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


def merged_window(model: ReadModel, paging: Paging) -> list[EntryState]:
    """The merged feed's entries: the `max_entries` that arrived last, newest first.
    The timeline page shows the same window, so the page and the feed agree."""
    return model.arrived(*paging.window_span())


def render_merged_documents(
    settings: Settings, model: ReadModel, paging: Paging | None = None
) -> FeedDocuments:
    """The merged feed as Atom and JSON Feed, from one read of the latest entries.

    The latest are the `max_entries` that arrived last in the log (see
    `publish.archive`), shown newest first by publication time; the Atom feed
    links to the newest archive page when older entries have been archived.
    `paging` is the model's, when the caller has already read it.
    """
    sources = {s.name: s for s in settings.sources}
    paging = Paging.of(settings.feed, model.arrivals()) if paging is None else paging
    entries = merged_window(model, paging)
    head = dataclasses.replace(
        merged_head(settings.feed), history=subscription_history(settings.feed, paging)
    )
    return FeedDocuments(
        atom=render_feed(head, entries, sources, model.last_recorded_at()),
        json=jsonfeed.render_json_feed(jsonfeed.merged_head(settings.feed), entries, sources),
    )


def merged_feed_path(settings: Settings) -> Path:
    return settings.feed.output_dir / "feed.atom"


def merged_json_path(settings: Settings) -> Path:
    return settings.feed.output_dir / "feed.json"


def archive_path(settings: Settings, page: int) -> Path:
    return settings.feed.output_dir / ARCHIVE_DIR / f"{page}.atom"


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
    return the merged Atom feed's path (the one the CLI reports)."""
    write_feed_documents(settings, merged, sources)
    return merged_feed_path(settings)


def write_feed_documents(
    settings: Settings, merged: FeedDocuments, sources: Mapping[str, FeedDocuments]
) -> list[Path]:
    """Write the per-source feeds, then the merged feed, each as Atom and JSON;
    return the paths whose bytes changed.

    The merged Atom feed is still written last, as before the JSON documents
    existed, so anything that takes its change as "the feeds are written"
    keeps seeing it after every other file.
    """
    written: list[tuple[Path, bytes]] = []
    for name, pair in sources.items():
        written.append((source_feed_path(settings, name), pair.atom))
        written.append((source_json_path(settings, name), pair.json))
    written.append((merged_json_path(settings), merged.json))
    written.append((merged_feed_path(settings), merged.atom))
    return [path for path, data in written if write_atomic(path, data)]


def regenerate(settings: Settings, model: ReadModel) -> Path:
    """Write the archive pages that changed, then the merged feed and one feed per
    source, in both formats; return the merged Atom feed's path."""
    position = model.checkpoint()  # before any read: the pages reflect at least this
    paging = Paging.of(settings.feed, model.arrivals())
    publish_archives(settings, model, paging, position, None)
    return write_documents(
        settings,
        render_merged_documents(settings, model, paging),
        render_source_documents(settings, model),
    )


@dataclass(frozen=True, slots=True)
class ArchiveUpdate:
    """What `publish_archives` did: the pages whose bytes may have changed since
    the baseline, those it rendered (number to bytes), and the new baseline."""

    touched: set[int]
    rendered: dict[int, bytes]
    baseline: Baseline


def publish_archives(
    settings: Settings,
    model: ReadModel,
    paging: Paging,
    position: int,
    baseline: Baseline | None,
    write: bool = True,
    states: Mapping[str, SourceState] | None = None,
) -> ArchiveUpdate:
    """Render the archive pages touched since `baseline` and write them to
    `output_dir` (only files whose bytes changed).

    `position` is the model's checkpoint, read before `paging` and before any
    page: the pages then reflect at least that position, so carrying on from
    it later can only render too much, never too little. Without a baseline
    the one recorded on disk is taken, and any page file missing from disk is
    rendered too; without either, every page. `write=False` writes nothing
    and renders only the open page, if touched: for a process that keeps no
    files and renders full pages when asked (`touched` says which to forget).
    `states` is `model.sources()`, when the caller has already read it.
    """
    states = model.sources() if states is None else states
    key = render_key(settings, {name for name, state in states.items() if state.entry_count})
    new = Baseline(paging, position, key)
    if not write:
        if baseline is None:  # nothing kept yet that could be stale
            touched = {paging.pages} - {0}
        else:
            touched = pages_to_render(baseline, paging, position, key, model)
        rendered = {page: render_page(settings, model, paging, page) for page in touched}
        return ArchiveUpdate(touched, rendered, new)
    if paging.pages == 0:  # nothing archived (yet, or any more): no archive directory
        _prune_archive(settings, 0)
        (settings.feed.output_dir / ARCHIVE_DIR / ARCHIVE_STATE).unlink(missing_ok=True)
        return ArchiveUpdate(set(), {}, new)
    recorded = baseline is None
    if baseline is None:
        baseline = read_archive_baseline(settings)
    everything = baseline is None or baseline.key != key or baseline.position > position
    pages = pages_to_render(baseline, paging, position, key, model)
    if recorded and not everything:
        pages.update(
            n for n in range(1, paging.pages + 1) if not archive_path(settings, n).exists()
        )
    rendered = {page: render_page(settings, model, paging, page) for page in sorted(pages)}
    changed = [
        page for page, body in rendered.items() if write_atomic(archive_path(settings, page), body)
    ]
    if everything:
        _prune_archive(settings, paging.pages)
    # The state file may lag behind the pages (carrying on from an older state
    # only renders more), so it is rewritten when a full page was, not for
    # each change of the open page: that would cost every new entry a write.
    if everything or recorded or any(paging.full(page) for page in changed):
        write_archive_baseline(settings, new)
    return ArchiveUpdate(pages, rendered, new)


def _prune_archive(settings: Settings, pages: int) -> None:
    """Remove page files past the last page (after the paging was changed)."""
    directory = settings.feed.output_dir / ARCHIVE_DIR
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        match = _PAGE_FILE.fullmatch(path.name)
        if match is not None and int(match.group(1)) > pages:
            path.unlink(missing_ok=True)


def read_archive_baseline(settings: Settings) -> Baseline | None:
    """What the page files on disk were rendered from; None when unknown or unreadable."""
    path = settings.feed.output_dir / ARCHIVE_DIR / ARCHIVE_STATE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        paging = Paging(int(data["entries"]), int(data["window"]), int(data["size"]))
        baseline = Baseline(paging, int(data["position"]), str(data["key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if paging.window < 1 or paging.size < 1 or paging.entries < 0 or baseline.position < 0:
        return None
    return baseline


def write_archive_baseline(settings: Settings, baseline: Baseline) -> None:
    paging = baseline.paging
    data = {
        "position": baseline.position,
        "entries": paging.entries,
        "window": paging.window,
        "size": paging.size,
        "key": baseline.key,
    }
    path = settings.feed.output_dir / ARCHIVE_DIR / ARCHIVE_STATE
    write_atomic(path, (json.dumps(data, sort_keys=True) + "\n").encode("utf-8"))


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
