"""The catalog's documents as the tests look them up: rendered now, written, all of them."""

from __future__ import annotations

from pathlib import Path

from aggregator.config import Settings
from aggregator.publish import catalog
from aggregator.publish.catalog import CATALOG, Address, Kind, Row, View
from aggregator.store.base import ReadModel


def rendered(settings: Settings, model: ReadModel, row: Row, name: str = "") -> bytes:
    """A document as the catalog renders it from `model` now."""
    body = row.render(View(settings, model), Address(row, name))
    assert body is not None, (row.url, name)
    return body


def written(settings: Settings, row: Row, name: str = "") -> Path:
    """Where a document with a file is written."""
    path = catalog.file(settings, Address(row, name))
    assert path is not None, row.url
    return path


def every_document(settings: Settings, model: ReadModel) -> list[Address]:
    """Every document the catalog publishes for this log, by what exists in it."""
    paging = View(settings, model).paging
    stories = sorted({e.story for e in model.entries() if e.story is not None})
    names = {
        Kind.MERGED: [""],
        Kind.TIMELINE: [""],
        Kind.SOURCE: [source.name for source in settings.sources],
        Kind.STORY: [catalog.story_name(story) for story in stories],
        Kind.ARCHIVE: [str(page) for page in range(1, paging.pages + 1)],
    }
    return [Address(row, name) for row in CATALOG for name in names[row.kind]]
