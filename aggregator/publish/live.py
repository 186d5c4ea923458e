"""The documents the web server hands out, kept in step with the event log.

An `Edition` is every feed document as of one log position: the merged feed
and one per source, each as Atom and as JSON Feed, each with the validators
HTTP caching needs. `Publisher` makes a new edition when the projection has
moved past the last one, and writes the same bytes to the output directory
(atomically), so the files on disk and the documents served never disagree.

Validators: the ETag is a digest of the bytes, so any change in content,
however it came about, changes it. Last-Modified is the time the log
recorded the event that produced a changed document; a document whose bytes
did not change keeps its previous Last-Modified, which keeps
`If-Modified-Since` answers honest (a 304 is never given for bytes the client
has not seen). A new process starts from the log's last recorded time, which
is never earlier than the true change, so at worst a client downloads once
more than it needed to.

Archive pages (`publish.archive`): an edition carries the paging and the
open page, which every new entry can change; full pages are rendered when
asked and kept (a few dozen), each until a refresh finds an entry on it
changed. A refresh renders the subscription feed and the pages the new
events touched, which after one new entry is the open page alone.

WebSub: when `[feed] hub` is set, each refresh that changed a feed
document's bytes hands the changed documents' URLs to a `HubNotifier`,
which pings the hub in the background. The first edition of a process has
no previous document to compare with, so it compares with the files in
`output_dir`: a restart pings for what changed while it was down, or under
a new configuration, and for nothing else.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aggregator.config import Settings
from aggregator.errors import StoreUnavailable
from aggregator.projections import catch_up
from aggregator.publish import atom, jsonfeed
from aggregator.publish.archive import Baseline, Paging, render_page
from aggregator.publish.files import (
    merged_feed_path,
    merged_json_path,
    publish_archives,
    render_merged_documents,
    render_source_documents,
    render_story_documents,
    source_feed_path,
    source_json_path,
    write_feed_documents,
)
from aggregator.publish.websub import HubNotifier
from aggregator.store.base import EventLog, ReadModel, SourceState

logger = logging.getLogger("aggregator.publish")

STORY_CACHE = 256  # story feeds kept rendered
ARCHIVE_CACHE = 64  # full archive pages kept rendered
NOTHING_ARCHIVED = Paging(entries=0, window=1, size=1)


@dataclass(frozen=True, slots=True)
class Document:
    """One feed document and its validators, plus its gzip form made once.

    The gzip form is its own representation with its own ETag (RFC 9110
    8.8.3: a strong validator differs per content coding), made with a fixed
    mtime so the same bytes always compress to the same bytes.
    """

    body: bytes
    etag: str
    last_modified: datetime
    gzipped: bytes
    gzip_etag: str


@dataclass(frozen=True, slots=True)
class Edition:
    """The documents as of `position`; `merged` and `sources` are Atom, the
    `_json` twins JSON Feed. Each format's document has its own validators,
    since a client caches each URL on its own."""

    position: int
    merged: Document
    sources: Mapping[str, Document]
    merged_json: Document
    sources_json: Mapping[str, Document]
    # The merged feed's archive: how entries are paged, and the open page
    # (None while nothing is archived).
    paging: Paging = NOTHING_ARCHIVED
    open_archive: Document | None = None


def _document(body: bytes, previous: Document | None, changed_at: datetime) -> Document:
    if previous is not None and previous.body == body:
        return previous
    digest = hashlib.sha256(body).hexdigest()[:32]
    return Document(
        body=body,
        etag=f'"{digest}"',
        last_modified=changed_at.replace(microsecond=0),
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        gzip_etag=f'"{digest}-gzip"',
    )


class Publisher:
    """Renders editions on demand; safe to call from the scheduler's threads and
    the web server's at once (one render at a time, readers never wait on it
    for a cached edition)."""

    def __init__(
        self,
        settings: Settings,
        log: EventLog,
        model: ReadModel,
        clock: Callable[[], datetime],
        on_render: Callable[[float], None] = lambda seconds: None,
        write_files: bool = True,
        min_refresh: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        notifier: HubNotifier | None = None,
    ) -> None:
        self.settings = settings
        self._log = log
        self._model = model
        self._clock = clock
        self._on_render = on_render
        self._write_files = write_files
        self._min_refresh = min_refresh
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._edition: Edition | None = None
        self._checked = float("-inf")
        self._stale = False
        # Story feeds by story id: (edition position, Atom, JSON), oldest first.
        self._stories: dict[str, tuple[int, Document, Document]] = {}
        self._story_lock = threading.Lock()
        self._notifier = notifier
        # Archive pages: what they were last rendered from, the full pages kept
        # rendered (page: (generation, document)), and each page's generation,
        # moved on whenever a refresh finds the page touched, so that a page
        # rendered on request from an older state is never kept past that.
        self._baseline: Baseline | None = None
        self._archives: OrderedDict[int, tuple[int, Document]] = OrderedDict()
        self._generations: dict[int, int] = {}
        self._archive_lock = threading.Lock()

    def position(self) -> int:
        edition = self._edition
        return edition.position if edition is not None else 0

    @property
    def model(self) -> ReadModel:
        """The read model editions are rendered from (for other views of the same state)."""
        return self._model

    def reconfigure(self, settings: Settings) -> Edition:
        """Render again under new settings (titles, sources), whatever the log did."""
        with self._lock:
            self.settings = settings
            self._stale = True
        return self.refresh()

    def refresh(self, unless_fresh: bool = False) -> Edition:
        """Catch the projection up with the log and return the current edition.

        `unless_fresh`: return the cached edition if another thread refreshed
        it while this one waited for the lock, so a burst of requests arriving
        as the throttle lapses costs one refresh, not one each.
        """
        with self._lock:
            if unless_fresh and (fresh := self.cached()) is not None:
                return fresh
            catch_up(self._log, self._model)
            self._checked = self._monotonic()
            position = self._model.checkpoint()
            edition = self._edition
            if edition is not None and edition.position == position and not self._stale:
                return edition
            started = time.perf_counter()
            kept = edition if not self._stale else None
            old = dict(kept.sources) if kept is not None else {}
            old_json = dict(kept.sources_json) if kept is not None else {}
            self._stale = False
            names = {source.name for source in self.settings.sources}
            states = self._model.sources()
            paging = Paging.of(self.settings.feed, self._model.arrivals())
            # Pages first, so the feed's prev-archive never names a missing file.
            archives = publish_archives(
                self.settings,
                self._model,
                paging,
                position,
                self._baseline,
                self._write_files,
                states,
            )
            merged = render_merged_documents(self.settings, self._model, paging)
            touched = _touched(edition, old, names, states)
            sources = render_source_documents(self.settings, self._model, touched, states)
            written: list[Path] = []
            if self._write_files:
                written = write_feed_documents(self.settings, merged, sources)
            self._on_render(time.perf_counter() - started)
            changed_at = self._model.last_recorded_at() or self._clock()
            atom_documents = {name: old[name] for name in old if name in names}
            json_documents = {name: old_json[name] for name in old_json if name in names}
            for name, pair in sources.items():
                atom_documents[name] = _document(pair.atom, old.get(name), changed_at)
                json_documents[name] = _document(pair.json, old_json.get(name), changed_at)
            open_archive = None
            if paging.pages:
                same = edition is not None and edition.paging.pages == paging.pages
                before = edition.open_archive if edition is not None and same else None
                body = archives.rendered.get(paging.pages)
                if body is None and before is None:  # not touched, but not kept either
                    body = render_page(self.settings, self._model, paging, paging.pages)
                open_archive = before if body is None else _document(body, before, changed_at)
            self._baseline = archives.baseline
            self._forget_pages(edition, paging, archives.touched, archives.rendered, changed_at)
            self._edition = Edition(
                position=position,
                merged=_document(merged.atom, edition.merged if edition else None, changed_at),
                sources=atom_documents,
                merged_json=_document(
                    merged.json, edition.merged_json if edition else None, changed_at
                ),
                sources_json=json_documents,
                paging=paging,
                open_archive=open_archive,
            )
            self._announce(edition, self._edition, written)
            return self._edition

    def _forget_pages(
        self,
        edition: Edition | None,
        paging: Paging,
        touched: Collection[int],
        rendered: Mapping[int, bytes],
        changed_at: datetime,
    ) -> None:
        """Move each touched page to a new generation, so no rendering of it from
        before is served again; keep the ones just rendered that were kept
        before, or that just filled (readers walking back meet them first)."""
        filled = edition.paging.pages if edition is not None else 0
        with self._archive_lock:
            for page in touched:
                generation = self._generations.get(page, 0) + 1
                self._generations[page] = generation
                kept = self._archives.pop(page, None)
                body = rendered.get(page)
                if body is None or not paging.full(page) or (kept is None and page != filled):
                    continue
                document = _document(body, kept[1] if kept else None, changed_at)
                self._archives[page] = (generation, document)
            while len(self._archives) > ARCHIVE_CACHE:
                self._archives.popitem(last=False)

    def archive(self, page: int) -> tuple[Document, bool] | None:
        """Archive page `page` and whether it is full; None when there is no such page.

        The open page comes with the edition. A full page is rendered from the
        read model on request and kept until a refresh finds it touched; the
        last rendering stands in while the database is unavailable.
        """
        edition = self.current()
        paging = edition.paging
        if not 1 <= page <= paging.pages:
            return None
        if page == paging.pages:
            assert edition.open_archive is not None
            return edition.open_archive, False
        with self._archive_lock:
            generation = self._generations.get(page, 0)
            kept = self._archives.get(page)
            if kept is not None and kept[0] == generation:
                self._archives.move_to_end(page)
                return kept[1], True
        try:
            body = render_page(self.settings, self._model, paging, page)
            changed_at = self._model.last_recorded_at() or self._clock()
        except StoreUnavailable:
            if kept is None:
                raise
            return kept[1], True
        document = _document(body, kept[1] if kept else None, changed_at)
        with self._archive_lock:
            if self._generations.get(page, 0) == generation:
                self._archives[page] = (generation, document)
                self._archives.move_to_end(page)
                while len(self._archives) > ARCHIVE_CACHE:
                    self._archives.popitem(last=False)
        return document, True

    def _announce(
        self, before: Edition | None, edition: Edition, written: Collection[Path]
    ) -> None:
        """Ping the hub for every feed document whose bytes changed (see the module doc)."""
        hub = self.settings.feed.hub
        if hub is None or self._notifier is None:
            return
        topics = changed_topics(self.settings, before, edition, written)
        if topics:
            self._notifier.publish(hub, topics)

    def story(self, story: str) -> tuple[Document, Document] | None:
        """A story's feed as (Atom, JSON Feed), or None when no entry is in it.

        Rendered on request from the read model (a story is a handful of
        entries) and kept while the edition stays at the same position; the
        last rendering stands in while the database is unavailable.
        """
        edition = self.current()
        kept = self._stories.get(story)
        if kept is not None and kept[0] == edition.position:
            return kept[1], kept[2]
        try:
            documents = render_story_documents(self.settings, self._model, story)
            changed_at = self._model.last_recorded_at() or self._clock()
        except StoreUnavailable:
            if kept is None:
                raise
            return kept[1], kept[2]
        if documents is None:
            self._stories.pop(story, None)
            return None
        rendered = (
            edition.position,
            _document(documents.atom, kept[1] if kept else None, changed_at),
            _document(documents.json, kept[2] if kept else None, changed_at),
        )
        with self._story_lock:
            self._stories[story] = rendered
            while len(self._stories) > STORY_CACHE:
                self._stories.pop(next(iter(self._stories)))
        return rendered[1], rendered[2]

    def cached(self) -> Edition | None:
        """The edition, if it was checked against the log within `min_refresh`;
        else None. Never touches the database, so an event loop may call it."""
        edition = self._edition
        if edition is not None and self._monotonic() - self._checked < self._min_refresh:
            return edition
        return None

    def current(self) -> Edition:
        """The cached edition, refreshed at most every `min_refresh` seconds.

        The throttle bounds the database work a burst of feed-reader requests
        can cause, and lets a `serve` process pick up what collectors elsewhere
        appended without any signal from them.

        The last edition also stands in while the database is unavailable: a
        reader gets the feed as it was, never an error, and the health check
        is what reports the outage.
        """
        fresh = self.cached()
        if fresh is not None:
            return fresh
        edition = self._edition
        try:
            return self.refresh(unless_fresh=True)
        except StoreUnavailable as exc:
            if edition is None:
                raise
            logger.warning("serving the last edition", extra={"error": str(exc)})
            self._checked = self._monotonic()  # look again after min_refresh, not per request
            return edition


def changed_topics(
    settings: Settings, before: Edition | None, edition: Edition, written: Collection[Path]
) -> list[str]:
    """The URLs (WebSub topics) of the feed documents that changed from `before`
    to `edition`: a document changed when it is a new `Document` (`_document`
    keeps the old one for the same bytes). Without `before`, the documents
    whose files were just rewritten (`written`)."""
    feed = settings.feed
    documents: list[tuple[str, Path, Document, Document | None]] = [
        (
            atom.merged_head(feed).self_url,
            merged_feed_path(settings),
            edition.merged,
            before.merged if before else None,
        ),
        (
            jsonfeed.merged_head(feed).self_url,
            merged_json_path(settings),
            edition.merged_json,
            before.merged_json if before else None,
        ),
    ]
    for source in settings.sources:
        name = source.name
        formats = (
            (atom.source_head, source_feed_path, edition.sources, before.sources if before else {}),
            (
                jsonfeed.source_head,
                source_json_path,
                edition.sources_json,
                before.sources_json if before else {},
            ),
        )
        for head, path, current, previous in formats:
            if name in current:
                documents.append(
                    (
                        head(feed, source).self_url,
                        path(settings, name),
                        current[name],
                        previous.get(name),
                    )
                )
    if before is None:
        rewritten = set(written)
        return [topic for topic, path, _, _ in documents if path in rewritten]
    return [topic for topic, _, now, then in documents if now is not then]


def _touched(
    edition: Edition | None,
    kept: Mapping[str, Document],
    names: set[str],
    states: Mapping[str, SourceState],
) -> set[str] | None:
    """The sources whose documents need rendering again (None: all of them).

    A source's feed depends on its own events only (`render_source_documents`), so
    only the sources with an event past the last edition, and any source
    without a document yet, are rendered; the others keep their bytes.
    """
    if edition is None or not kept:
        return None
    return {
        name
        for name in names
        if name not in kept or (name in states and states[name].position > edition.position)
    }
