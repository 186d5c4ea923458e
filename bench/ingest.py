"""Figures 1 and 2: ingesting a large live blog, and polling it again unchanged.

1. A generated live blog of 10,000 updates collected once from a file: entries
   per second through fetch → extract → diff → append → fold, beside bare
   sqlite3 `executemany` of the same event rows in one transaction.
   Target: at least 50,000 entries/s, within 3x of the bare inserts.
   The same collect beside extraction alone (the page read into entries in
   this process, nothing else): everything after extraction (taking the
   page to a worker process and back, the diff, the append, the fold) costs
   at most half of extraction itself (issue 17).
2. The same page polled again, fetched in full (no validator to save the
   work): no entry event may be appended, and the poll's time is set beside
   extraction alone. Target: the dedup adds at most 50% to extraction.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aggregator.config import Settings
from aggregator.engine.polls import collect_once
from aggregator.ingest.extract import extract
from aggregator.ingest.fetch import FetchResult
from aggregator.ingest.poll import poll_source, source_context
from aggregator.store import open_store
from aggregator.store.sql import SqlStore
from bench.common import Figure, main, median, timed
from bench.data import config, liveblog_text

FETCHED_AT = datetime(2020, 9, 28, tzinfo=UTC)
AFTER_EXTRACTION_TARGET = 0.5
EVENTS_DDL = """CREATE TABLE events (
    position INTEGER PRIMARY KEY, event_key VARCHAR(512) NOT NULL UNIQUE,
    type VARCHAR(64) NOT NULL, schema_version INTEGER NOT NULL,
    recorded_at VARCHAR(32) NOT NULL, source VARCHAR(200) NOT NULL, payload TEXT NOT NULL)"""


class SameBytes:
    """A fetcher that hands back the page in full every time, as a server
    without validators would: what a re-poll costs when nothing saves it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def fetch(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        return FetchResult(url=url, fetched_at=FETCHED_AT, body=self.body)


def run(quick: bool) -> list[Figure]:
    updates, runs = (200, 2) if quick else (10_000, 5)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        page = work / "liveblog.txt"
        page.write_bytes(liveblog_text(updates))
        alone = _extraction(work, page, updates, runs)
        return [
            *_ingest(work, page, updates, runs, alone),
            *_repoll(work, page, updates, runs, alone),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fresh(work: Path, page: Path) -> tuple[Settings, SqlStore]:
    shutil.rmtree(work / "log", ignore_errors=True)
    settings = config(work / "log", {"big": str(page)})
    return settings, open_store(settings.database_url)


def _extraction(work: Path, page: Path, updates: int, runs: int) -> list[float]:
    """Seconds of extraction alone: the page read into its entries, in this process."""
    settings, store = _fresh(work, page)
    store.close()
    source = settings.sources[0]
    body = page.read_bytes()
    context = source_context(source, FETCHED_AT)

    def extract_only() -> None:
        assert len(extract(body, context, source.format).entries) == updates

    return timed(extract_only, runs)


def _ingest(work: Path, page: Path, updates: int, runs: int, alone: list[float]) -> list[Figure]:
    opened: list[tuple[Settings, SqlStore]] = []

    def setup() -> None:
        for _, store in opened:
            store.close()
        opened[:] = [_fresh(work, page)]

    def collect() -> None:
        settings, store = opened[0]
        summary = asyncio.run(
            collect_once(
                settings.service, settings.sources, store.log, store.read_model, store.clock
            )
        )[0]
        assert summary.added == updates, summary

    ours = timed(collect, runs, setup)
    settings, store = opened[0]
    with sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as source:
        rows = source.execute(
            "SELECT position, event_key, type, schema_version, recorded_at, source, payload"
            " FROM events ORDER BY position"
        ).fetchall()
    store.close()
    bare_db = work / "bare.db"

    def bare_setup() -> None:
        bare_db.unlink(missing_ok=True)
        with sqlite3.connect(bare_db) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(EVENTS_DDL)

    def bare_insert() -> None:
        db = sqlite3.connect(bare_db)
        db.execute("PRAGMA synchronous=NORMAL")
        with db:
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.close()

    bare = timed(bare_insert, runs, bare_setup)
    rate = updates / median(ours)
    ratio = median(ours) / median(bare)
    after = (median(ours) - median(alone)) / median(alone)
    return [
        Figure(
            benchmark="ingest",
            name=f"collect a {updates:,}-update live blog once (fetch to fold)",
            value=rate,
            unit="entries/s",
            baseline_name="bare sqlite3 executemany of the same rows, entries/s",
            baseline=updates / median(bare),
            ratio=ratio,
            ratio_meaning="our time / bare time",
            target=">= 50,000 entries/s, ratio <= 3",
            met=rate >= 50_000 and ratio <= 3,
            runs=runs,
            command="python -m bench.ingest",
            samples=ours,
            notes=[f"bare samples: {bare}"],
        ),
        Figure(
            benchmark="ingest",
            name=f"ingest of a {updates:,}-update page: everything after extraction",
            value=(median(ours) - median(alone)) * 1000,
            unit="ms",
            baseline_name="extraction alone, ms",
            baseline=median(alone) * 1000,
            ratio=after,
            ratio_meaning="(whole poll - extraction) / extraction",
            target=f"ratio <= {AFTER_EXTRACTION_TARGET:g}",
            met=after <= AFTER_EXTRACTION_TARGET,
            runs=runs,
            command="python -m bench.ingest",
            samples=ours,
            notes=[
                "the whole poll is the collect above (fetch to fold, the page read in an "
                "extraction worker process); extraction alone runs in this process",
                "samples: the whole poll's seconds",
                f"extraction samples: {alone}",
            ],
        ),
    ]


def _repoll(work: Path, page: Path, updates: int, runs: int, alone: list[float]) -> list[Figure]:
    settings, store = _fresh(work, page)
    source = settings.sources[0]
    body = page.read_bytes()
    asyncio.run(collect_once(settings.service, [source], store.log, store.read_model, store.clock))
    fetcher = SameBytes(body)

    def repoll() -> None:
        summary = asyncio.run(
            poll_source(source, fetcher, store.log, store.read_model, store.clock)  # type: ignore[arg-type]
        )
        assert (summary.added, summary.revised, summary.unchanged) == (0, 0, updates), summary

    ours = timed(repoll, runs)
    store.close()
    ratio = median(ours) / median(alone)
    return [
        Figure(
            benchmark="ingest",
            name=f"poll the same {updates:,} updates again, fetched in full: 0 entry events",
            value=median(ours) * 1000,
            unit="ms",
            baseline_name="extraction alone, ms",
            baseline=median(alone) * 1000,
            ratio=ratio,
            ratio_meaning="re-poll / extraction",
            target="ratio <= 1.5 (dedup adds at most 50%)",
            met=ratio <= 1.5,
            runs=runs,
            command="python -m bench.ingest",
            samples=ours,
            notes=[f"extraction samples: {alone}"],
        )
    ]


if __name__ == "__main__":
    main(run, "ingest")
