"""The files `collect`, `replay` and `import` write, and the merged feed `feed` prints.

Every document of the catalog (`publish.catalog`) that has a file is written
under `output_dir` by the one render path (`publish.documents`), the same
that serves them over HTTP, so the files on disk and the documents served
are the same bytes. A command starts afresh each time: it renders every
feed, and the archive pages the state file beside them says changed.
"""

from __future__ import annotations

from pathlib import Path

from aggregator.config import Settings
from aggregator.core.files import write_atomic, write_stream
from aggregator.publish import catalog
from aggregator.publish.atom import EPOCH
from aggregator.publish.catalog import Address, View
from aggregator.publish.documents import Documents
from aggregator.store.base import ReadModel

__all__ = ["regenerate", "render_merged", "write_atomic", "write_stream"]


def regenerate(settings: Settings, model: ReadModel) -> Path:
    """Write every file-backed document whose bytes changed; return the merged
    Atom feed's path (the one the CLI reports)."""
    # A command keeps no validators, so the fallback time for them is never seen.
    Documents(settings, write=True).update(model, clock=lambda: EPOCH)
    path = catalog.file(settings, Address(catalog.MERGED_ATOM))
    assert path is not None, "the merged feed has a file"
    return path


def render_merged(settings: Settings, model: ReadModel) -> bytes:
    """The merged Atom feed alone (for `aggregator feed` and the tests)."""
    address = Address(catalog.MERGED_ATOM)
    body = address.row.render(View(settings, model), address)
    assert body is not None, "the merged feed always exists"
    return body
