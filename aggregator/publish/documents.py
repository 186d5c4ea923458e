"""The one render path: the catalog's documents, rendered when events touch them.

`Documents` serves both the files `collect`, `replay` and `import` write
(`publish.files.regenerate`) and what `aggregator run` and `serve` answer over
HTTP (`publish.live.Publisher`). Given the read model, `update` renders the
catalog entries (`publish.catalog`) that the events since its last update
touched, keeps each as a `Document` with its HTTP validators, writes the
ones with a file when it writes files, and says which changed (the WebSub
topics to ping). What is rendered when:

* the open documents, which the next entry may change (the merged feed, each
  source's, the open archive page), are rendered by the update that finds
  them touched, and make up the `Edition` the web server answers from; the
  first edition of a process renders them all, to have them at hand;
* a document with a file, when writing, is rendered by the update that finds
  it touched, and written if its bytes changed. A command's update
  (`serve=False`) keeps no edition, so it renders nothing else: only the
  touched documents and those whose file is missing;
* anything else (full archive pages without files, stories, the timeline) is
  rendered when first asked for and kept (a few per kind) until an update
  finds it touched; the last rendering stands in while the database is
  unavailable.

What each update touches follows from the entries changed since the last
one (a new version or a story link: `entry_sources`), the only part of the
log a document shows: the sources of those entries, and when there are any,
the merged feed and, being views of the latest state, every story and the
timeline; the archive pages `publish.archive.pages_to_render` names. "Since
the last one" is since the last edition, or for a command's first update
since the position the files' state file records (`publish.files`). A poll's
own record (a 304's `SourceNotModified`, a `SourceFailed`, a `SourcePolled`
that found nothing new) changes no entry and nothing any document shows, so
a round of such polls renders nothing (it rendered the merged feed and both
documents of every polled source: 2,002 documents, 2.8 s, for 1,000 sources
answering 304). After new settings (`reconfigure`), or a read model behind
the last edition (rebuilt meanwhile), or without a position to carry on
from, every document is touched, but for archive pages, which the
configuration digest decides; such an update, when writing, first removes
the feeds' state file, so that one stopped halfway leaves no state vouching
for files it had rewritten. The service never writes that file back: only a
command does, which knows what its files reflect.

Validators: the ETag is a digest of the bytes, so any change in content,
however it came about, changes it. Last-Modified is the time the log
recorded the event that produced a changed document; a document whose bytes
did not change keeps its previous Last-Modified, and changed bytes get one
later than the previous one even when the log did not move (a reload
changed a title), so `If-Modified-Since` never gets a 304 for bytes the
client has not seen. A new process starts from the log's last recorded time,
which is never earlier than the true change, so at worst a client downloads
once more than it needed to.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from aggregator.config import Settings
from aggregator.core.errors import StoreUnavailable
from aggregator.core.files import write_all
from aggregator.publish import catalog, disk
from aggregator.publish.archive import Baseline, Paging, pages_to_render, render_key
from aggregator.publish.catalog import CATALOG, Address, Kind, Row, View
from aggregator.store.base import ReadModel

# Documents rendered on request kept per kind (the least recently asked for go first).
KEPT = {Kind.STORY: 256, Kind.ARCHIVE: 64, Kind.TIMELINE: 1}


@dataclass(frozen=True)
class Document:
    """One document and its validators; its gzip form is made once, when first asked for.

    The gzip form is its own representation with its own ETag (RFC 9110
    8.8.3: a strong validator differs per content coding), made with a fixed
    mtime so the same bytes always compress to the same bytes. `settled`: its
    entries are fixed (a full archive page), so caches may keep it longer.
    """

    body: bytes
    etag: str
    last_modified: datetime
    settled: bool = False

    @functools.cached_property
    def gzipped(self) -> bytes:
        return gzip.compress(self.body, compresslevel=6, mtime=0)

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'


def document(
    body: bytes, previous: Document | None, changed_at: datetime, settled: bool = False
) -> Document:
    """`body` with its validators: `previous` itself when the bytes are the same."""
    if previous is not None and previous.body == body and previous.settled == settled:
        return previous
    modified = changed_at.replace(microsecond=0)
    if previous is not None and modified <= previous.last_modified:
        modified = previous.last_modified + timedelta(seconds=1)
    digest = hashlib.sha256(body).hexdigest()[:32]
    return Document(body=body, etag=f'"{digest}"', last_modified=modified, settled=settled)


@dataclass(frozen=True, slots=True)
class Edition:
    """The open documents as of log position `position` (see the module doc)."""

    position: int
    paging: Paging  # how the merged feed's entries are paged
    documents: Mapping[Address, Document]

    def get(self, row: Row, name: str = "") -> Document | None:
        return self.documents.get(Address(row, name))

    @property
    def merged(self) -> Document:
        """The merged Atom feed, the one subscription feed every reader can take."""
        return self.documents[Address(catalog.MERGED_ATOM)]

    @property
    def sources(self) -> dict[str, Document]:
        """Each configured source's Atom feed, by source name."""
        row = catalog.SOURCE_ATOM
        return {a.name: d for a, d in self.documents.items() if a.row is row}


@dataclass(frozen=True, slots=True)
class Update:
    """What an update did: the new edition (a command's holds only the open
    documents it rendered), the documents it rendered, and those whose bytes
    changed, from the last edition's or, for the first, from the file on disk
    (a restart then tells a hub only what changed while it was down)."""

    edition: Edition
    rendered: tuple[Address, ...]
    changed: tuple[Address, ...]


@dataclass(slots=True)
class _ArchivePlan:
    """The archive pages an update renders, and what it records afterwards."""

    pages: set[int]
    baseline: Baseline  # what the pages reflect once rendered
    everything: bool = False  # the pages on disk are not known: prune past the last
    record: bool = False  # the process's first update: write the state if it rendered a page


Stamp = tuple[int, int]


@dataclass(slots=True)
class _Kept:
    """Documents rendered on request, each with the stamp it was rendered under."""

    capacity: int
    documents: OrderedDict[Address, tuple[Stamp, Document]] = field(default_factory=OrderedDict)

    def put(self, address: Address, stamp: Stamp, kept: Document) -> None:
        self.documents[address] = (stamp, kept)
        self.documents.move_to_end(address)
        while len(self.documents) > self.capacity:
            self.documents.popitem(last=False)


class Documents:
    """The catalog's documents for one configuration and one read model.

    `write`: write the documents that have a file. `serve`: keep an edition to
    answer from (the service); a command's (`serve=False`) serves nothing, so
    it renders only what the files lack (see the module doc). `update` is not
    reentrant (the caller runs one at a time); `get` and `peek` may run
    beside it from any thread.
    """

    def __init__(self, settings: Settings, write: bool, serve: bool = True) -> None:
        self.settings = settings
        self._write = write
        self._serve = serve
        self._stale = False
        self._edition: Edition | None = None
        self._baseline: Baseline | None = None  # what the archive pages reflect
        self._lock = threading.Lock()  # the kept documents and their stamps
        self._kept = {kind: _Kept(KEPT.get(kind, 0)) for kind in Kind}
        # Moved on when an update touches a kind's every document, or one of them.
        self._epochs: dict[Kind, int] = {}
        self._generations: dict[tuple[Kind, str], int] = {}

    @property
    def stale(self) -> bool:
        """Whether the settings changed since the last update."""
        return self._stale

    def reconfigure(self, settings: Settings) -> None:
        self.settings = settings
        self._stale = True

    def update(
        self, model: ReadModel, clock: Callable[[], datetime], files: int | None = None
    ) -> Update:
        """Render what the events since the last update touched (see the module
        doc). `files`: the log position the files on disk reflect, for a
        command's first update to carry on from (`publish.files`)."""
        settings, before = self.settings, self._edition
        position = model.checkpoint()  # before any read: the documents reflect at least this
        view = View(settings, model)
        plan = self._plan_archive(view, position)
        since = self._since(position, files)
        if since is None and self._write:  # see `publish.files`: it is written back after
            disk.forget_baseline(feeds_folder(settings))
        sources = None if since is None else entry_sources(model, since)
        changed_at = model.last_recorded_at() or clock()
        documents: dict[Address, Document] = {}
        rendered: list[Address] = []
        # Whether each rendering holds new bytes; None: only if its file changed.
        new_bytes: dict[Address, bool | None] = {}
        to_write: list[tuple[Address, Path, bytes]] = []
        kept: list[tuple[Address, Document]] = []
        for row in reversed(CATALOG):
            touched = self._touched(row.kind, plan, sources)
            self._forget(row.kind, touched)
            for name in self._renderable(row, view.paging):
                address = Address(row, name)
                opened = _open(address, view.paging)
                previous = self._previous(address, before)
                path = catalog.file(settings, address)
                if touched is not None and name not in touched:
                    if not self._serve:
                        if path is None or path.exists():
                            continue  # its file is as it should be
                    elif not opened:
                        continue  # its file is as it should be
                    elif previous is not None:
                        documents[address] = previous
                        continue
                body = row.render(view, address)
                if body is None:
                    continue
                settled = catalog.settled(address, view.paging)
                made = document(body, previous, changed_at, settled)
                rendered.append(address)
                if self._write and path is not None:
                    to_write.append((address, path, body))
                new_bytes[address] = None if previous is None else made is not previous
                if opened:
                    documents[address] = made
                else:
                    kept.append((address, made))
        on_disk = write_all([(path, body) for _, path, body in to_write])
        written = [a for (a, _, _), wrote in zip(to_write, on_disk, strict=True) if wrote]
        was_written = set(written)
        changed = [
            a for a in rendered if new_bytes[a] or (new_bytes[a] is None and a in was_written)
        ]
        self._keep(kept)
        self._finish_archive(plan, view.paging, rendered, written)
        self._edition = Edition(position, view.paging, documents)
        self._stale = False  # only now: an update that failed is made again in full
        return Update(self._edition, tuple(rendered), tuple(changed))

    def peek(self, address: Address, edition: Edition) -> Document | None:
        """The document if it is at hand (never reads the database); None: ask `get`."""
        if _open(address, edition.paging):
            return edition.documents.get(address)
        with self._lock:
            found = self._kept[address.row.kind].documents.get(address)
            if found is not None and found[0] == self._stamp(address):
                return found[1]
        return None

    def get(
        self, address: Address, edition: Edition, model: ReadModel, clock: Callable[[], datetime]
    ) -> Document | None:
        """The document as of `edition`, rendered now if it is not at hand; None
        when there is no such document. A rendering kept from before stands in
        while the database is unavailable (else `StoreUnavailable` propagates)."""
        if not catalog.valid_name(address.row.kind, address.name):
            return None
        if _open(address, edition.paging):
            return edition.documents.get(address)
        kept = self._kept[address.row.kind]
        with self._lock:
            stamp = self._stamp(address)
            found = kept.documents.get(address)
            if found is not None and found[0] == stamp:
                kept.documents.move_to_end(address)
                return found[1]
        before = found[1] if found is not None else None
        try:
            body = address.row.render(View(self.settings, model, edition.paging), address)
            changed_at = model.last_recorded_at() or clock()
        except StoreUnavailable:
            if before is None:
                raise
            return before
        if body is None:
            with self._lock:
                kept.documents.pop(address, None)
            return None
        made = document(body, before, changed_at, catalog.settled(address, edition.paging))
        with self._lock:
            if self._stamp(address) == stamp:  # else an update touched it meanwhile
                kept.put(address, stamp, made)
        return made

    # -- what an update touches ---------------------------------------------------------

    def _since(self, position: int, files: int | None) -> int | None:
        """The log position the documents reflect, to carry on from; None: every
        one renders again. The last edition's, under the same settings and not
        ahead of the model (a rebuild can put it behind); before the first,
        what the caller says the files reflect, if anything."""
        before = self._edition
        if self._stale:
            return None
        reflected = files if before is None else before.position
        return reflected if reflected is not None and reflected <= position else None

    def _touched(self, kind: Kind, plan: _ArchivePlan, sources: set[str] | None) -> set[str] | None:
        """The names of `kind` the update touches; None: every one. `sources`
        are those with an entry changed since the documents' position
        (`entry_sources`), None when every document renders again (`_since`);
        a change to any entry touches the merged feed, the stories and the
        timeline."""
        if kind is Kind.ARCHIVE:
            return {str(page) for page in plan.pages}
        if sources is None:
            return None
        if kind is Kind.SOURCE:
            return sources
        return None if sources else set()

    def _renderable(self, row: Row, paging: Paging) -> Iterable[str]:
        """The names of `row` an update renders when touched: the open documents,
        and when writing the ones with a file."""
        names: Iterable[str]
        if row.kind is Kind.MERGED:
            names = [""]
        elif row.kind is Kind.SOURCE:
            names = [source.name for source in self.settings.sources]
        elif row.kind is Kind.ARCHIVE:
            names = [str(page) for page in range(1, paging.pages + 1)]
        else:
            return []  # stories and the timeline: rendered on request
        writes = self._write and row.file is not None
        return [name for name in names if writes or _open(Address(row, name), paging)]

    def _previous(self, address: Address, before: Edition | None) -> Document | None:
        """The document's last rendering: in the last edition, or kept."""
        if before is not None and address in before.documents:
            return before.documents[address]
        with self._lock:
            found = self._kept[address.row.kind].documents.get(address)
        return found[1] if found is not None else None

    def _stamp(self, address: Address) -> Stamp:
        kind = address.row.kind
        return self._epochs.get(kind, 0), self._generations.get((kind, address.name), 0)

    def _forget(self, kind: Kind, touched: Collection[str] | None) -> None:
        """Move the touched documents' stamps on, so no rendering of them from
        before is served again (it stays, to stand in while the database is down)."""
        with self._lock:
            if touched is None:
                self._epochs[kind] = self._epochs.get(kind, 0) + 1
                return
            for name in touched:
                self._generations[(kind, name)] = self._generations.get((kind, name), 0) + 1

    def _keep(self, rendered: Iterable[tuple[Address, Document]]) -> None:
        with self._lock:
            for address, made in rendered:
                self._kept[address.row.kind].put(address, self._stamp(address), made)

    # -- archive pages ----------------------------------------------------------------------

    def _plan_archive(self, view: View, position: int) -> _ArchivePlan:
        """The pages to render to bring the archive up to `position`.

        `position` is the model's checkpoint, read before the paging and before
        any page: the pages then reflect at least that position, so carrying on
        from it later can only render too much, never too little. The first
        update of a process that writes files carries on from the state file
        and renders any page file missing from disk too; without either, every
        page. One that writes none renders the open page first, and a full
        page when asked.
        """
        settings, paging, model = self.settings, view.paging, view.model
        with_entries = {name for name, state in view.states().items() if state.entry_count}
        key = render_key(settings, with_entries)
        new = Baseline(paging, position, key)
        if not self._write:
            if self._baseline is None:  # nothing kept yet that could be stale
                return _ArchivePlan({paging.pages} - {0}, new)
            return _ArchivePlan(pages_to_render(self._baseline, paging, position, key, model), new)
        if paging.pages == 0:
            return _ArchivePlan(set(), new, everything=True)
        recorded = self._baseline is None
        baseline = self._baseline if self._baseline is not None else self._disk_baseline()
        everything = baseline is None or baseline.key != key or baseline.position > position
        pages = pages_to_render(baseline, paging, position, key, model)
        if everything:  # written back once every page is: see `_finish_archive`
            self._forget_disk_baseline()
        elif recorded:
            pages.update(page for page in range(1, paging.pages + 1) if self._missing(page))
        return _ArchivePlan(pages, new, everything, recorded)

    def _finish_archive(
        self, plan: _ArchivePlan, paging: Paging, rendered: list[Address], written: list[Address]
    ) -> None:
        """Record what the pages reflect now; on disk, remove pages past the last
        and write the state file.

        The state file may lag behind the pages (carrying on from an older state
        only renders more), so it is rewritten when a full page was, or by a
        process's first update that rendered a page, not for each change of the
        open page: that would cost every new entry a write. A first update that
        rendered none (a `collect` of 304s) leaves it alone. One that renders
        every page removed it first (`_plan_archive`): stopped halfway, it
        must not leave a state that vouches for pages it had rewritten (under
        new settings, or from a model rebuilt back in time).
        """
        self._baseline = plan.baseline
        folder = self._archive_folder()
        if not self._write or folder is None:
            return
        if plan.everything:
            for row in catalog.rows(Kind.ARCHIVE):
                for name, path in catalog.on_disk(self.settings, row).items():
                    if int(name) > paging.pages:
                        path.unlink(missing_ok=True)
        if paging.pages == 0:  # nothing archived (yet, or any more)
            disk.forget_baseline(folder)
            return
        pages = [int(a.name) for a in written if a.row.kind is Kind.ARCHIVE]
        recorded = plan.record and any(a.row.kind is Kind.ARCHIVE for a in rendered)
        if plan.everything or recorded or any(paging.full(page) for page in pages):
            disk.write_baseline(folder, plan.baseline)

    def _archive_folder(self) -> Path | None:
        return catalog.directory(self.settings, catalog.rows(Kind.ARCHIVE)[0])

    def _disk_baseline(self) -> Baseline | None:
        folder = self._archive_folder()
        return None if folder is None else disk.read_baseline(folder)

    def _forget_disk_baseline(self) -> None:
        folder = self._archive_folder()
        if folder is not None:
            disk.forget_baseline(folder)

    def _missing(self, page: int) -> bool:
        for row in catalog.rows(Kind.ARCHIVE):
            path = catalog.file(self.settings, Address(row, str(page)))
            if path is not None and not path.exists():
                return True
        return False


def feeds_folder(settings: Settings) -> Path:
    """Where the merged feed is written, and beside it the feeds' state file."""
    folder = catalog.directory(settings, catalog.MERGED_ATOM)
    assert folder is not None, "the merged feed has a file"
    return folder


def entry_sources(model: ReadModel, since: int) -> set[str]:
    """The sources with an entry whose state changed after log position `since`
    (a new version or a story link): what any document shows of the log. A
    poll's own record (`SourcePolled`, `SourceNotModified`, `SourceFailed`)
    changes no entry, and no document shows what it does change, so a round
    of 304s touches nothing.

    Two indexed reads: the changed arrival numbers, then the sources of their
    stretch of arrivals (a revision of an old entry lengthens it).
    """
    arrivals = set(model.changed_since(since))
    if not arrivals:
        return set()
    stretch = model.arrival_sources(min(arrivals), max(arrivals))
    return {source for arrival, source in stretch if arrival in arrivals}


def _open(address: Address, paging: Paging) -> bool:
    """Whether the next entry may change the document: the merged feed, a
    source's, the open archive page."""
    kind = address.row.kind
    if kind is Kind.ARCHIVE:
        return address.name == str(paging.pages)
    return kind in (Kind.MERGED, Kind.SOURCE)
