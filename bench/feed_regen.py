"""Figure 3: regenerating the feeds after one new entry, over a small and a huge log.

The log holds 1,000 events, then 1,000,000 (ten sources, an entry event in
every third record). Each run appends one new entry, then times what the
service does next: the publisher catches the projection up and renders and
writes the merged feed and every source's feed. The work should grow with
the feed window (`max_entries`), not with the log. Target: the huge log's
time within 1.5x of the small one's, and under 50 ms.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

from aggregator.config import Settings
from aggregator.core.events import EntryAdded
from aggregator.core.model import content_hash
from aggregator.publish.live import Publisher
from aggregator.store import open_store
from bench.common import Figure, main, median, timed
from bench.data import big_log, config

SOURCES = {f"source-{n}": f"https://example.org/{n}" for n in range(10)}
_serial = count(1)


def regeneration_times(path: Path, work: Path, runs: int) -> list[float]:
    settings: Settings = config(work, SOURCES, fmt="feed")
    store = open_store(f"sqlite:///{path}")
    publisher = Publisher(settings, store.log, store.read_model, store.clock)
    publisher.refresh()  # the edition a running service already has
    try:

        def one_new_entry() -> None:
            n = next(_serial)
            when = datetime(2021, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
            title = f"Breaking {n}"
            html = f"<p>News number {n}.</p>"
            store.log.append(
                [
                    EntryAdded(
                        source="source-1",
                        key=f"bench-new-{n}-{path.stem}",
                        entry_id=f"tag:example.org,2021:new/{n}/{path.stem}",
                        version=1,
                        title=title,
                        content_html=html,
                        published=when,
                        updated=when,
                        link=None,
                        author="Desk",
                        content_hash=content_hash(title, html),
                    )
                ]
            )

        return timed(publisher.refresh, runs, setup=one_new_entry)
    finally:
        store.close()


def run(quick: bool) -> list[Figure]:
    small_count, huge_count, runs = (1_000, 5_000, 3) if quick else (1_000, 1_000_000, 7)
    work = Path(tempfile.mkdtemp(prefix="bench-regen-"))
    try:
        small, huge = {}, {}
        for label, size, into in (("small", small_count, small), ("huge", huge_count, huge)):
            copy = work / f"{label}.db"
            shutil.copy(big_log(size), copy)  # the cached log stays as it was
            into["samples"] = regeneration_times(copy, work / label, runs)
            copy.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small_ms, huge_ms = median(small["samples"]) * 1000, median(huge["samples"]) * 1000
    ratio = huge_ms / small_ms
    return [
        Figure(
            benchmark="feed_regen",
            name=f"regenerate every feed after one new entry, {huge_count:,} events in the log",
            value=huge_ms,
            unit="ms",
            baseline_name=f"the same with {small_count:,} events, ms",
            baseline=small_ms,
            ratio=ratio,
            ratio_meaning="huge log / small log",
            target="ratio < 1.5 and < 50 ms",
            met=ratio < 1.5 and huge_ms < 50,
            runs=runs,
            command="python -m bench.feed_regen",
            samples=huge["samples"],
            notes=[f"small-log samples: {small['samples']}"],
        )
    ]


if __name__ == "__main__":
    main(run, "feed_regen")
