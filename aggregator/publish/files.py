"""The files `collect`, `replay` and `import` write, and the merged feed `feed` prints.

Every document of the catalog (`publish.catalog`) that has a file is written
under `output_dir` by the one render path (`publish.documents`), the same
that serves them over HTTP, so the files on disk and the documents served
are the same bytes.

A command carries on from what the files reflect. `.state.json` beside
`feed.atom` records the log position the feeds (merged and per source) were
rendered up to, and a key: a digest of the settings, the program's version
and the event at that position (`files_key`). The next command renders only
the documents touched by entries changed after that position (see
`publish.documents`), and nothing at all when no entry changed: a `collect`
of 1,000 sources answering 304 rendered all 2,002 feeds again, 6.7 s for no
changed byte, and now renders none and writes no file. The archive pages
carry on from their own state (`publish.disk`).

A wrong skip would leave a stale feed, so everything is rendered, as by a
first `collect`, when the state is missing or unreadable, or its key differs:
other settings (any `[feed]` or `[[sources]]` key, even one that only steers
polling), another version, another database, or a log that no longer holds
at that position the event the files were rendered up to (the database was
deleted, or restored from another log); and when the read model is behind
it (`replay --until`). A feed whose file is missing is rendered whatever
the state says. An update that renders everything removes the state file
first, and the state is written back after any update that rendered a
document, so a command stopped halfway leaves no state that vouches for
files it had rewritten. `replay` to the head and `import` of the same log
give the same read model, so they carry on too. The service writes the
same files but no state (it removes it): the next command after it renders
everything once.
"""

from __future__ import annotations

import hashlib

from aggregator import __version__
from aggregator.config import Settings
from aggregator.core.events import format_time
from aggregator.core.files import write_atomic, write_stream
from aggregator.publish import catalog, disk
from aggregator.publish.archive import Baseline
from aggregator.publish.atom import EPOCH
from aggregator.publish.catalog import Address, View
from aggregator.publish.documents import Documents, Update, feeds_folder
from aggregator.store.base import EventLog, ReadModel

__all__ = ["regenerate", "render_merged", "write_atomic", "write_stream"]


def regenerate(settings: Settings, log: EventLog, model: ReadModel) -> Update:
    """Render the file-backed documents the log changed since the files' state
    (every one without a state that holds), write those whose bytes changed,
    and record the position they now reflect."""
    folder = feeds_folder(settings)
    recorded = disk.read_baseline(folder)
    since = None
    if recorded is not None and recorded.key == files_key(settings, log, recorded.position):
        since = recorded.position
    # A command keeps no validators, so the fallback time for them is never seen.
    update = Documents(settings, write=True, serve=False).update(model, lambda: EPOCH, since)
    if since is None or update.rendered:
        reflected = update.edition
        key = files_key(settings, log, reflected.position)
        disk.write_baseline(folder, Baseline(reflected.paging, reflected.position, key))
    return update


def files_key(settings: Settings, log: EventLog, position: int) -> str:
    """A digest of everything besides the entries that the files, rendered up
    to log position `position`, follow from: the database, every `[feed]`
    and `[[sources]]` setting, the program's version (the renderers), and the
    event at that position (its key and recording time), which a different
    log does not hold there. Hashed, so a password in the database URL is not
    written out."""
    at = [f"{r.event_key} {format_time(r.recorded_at)}" for r in log.read(position - 1, position)]
    text = repr((settings.database_url, settings.feed, settings.sources, __version__, at))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def render_merged(settings: Settings, model: ReadModel) -> bytes:
    """The merged Atom feed alone (for `aggregator feed` and the tests)."""
    address = Address(catalog.MERGED_ATOM)
    body = address.row.render(View(settings, model), address)
    assert body is not None, "the merged feed always exists"
    return body
