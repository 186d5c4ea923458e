"""Figure 6 of issue 7: a peer, the `reader` library, updating the same feeds.

The 1,000 generated RSS feeds of `bench.fanout` (20 items each) are served by
a private nginx on 127.0.0.1. `reader` (PyPI `reader`, a dev dependency)
updates them cold: `make_reader(<fresh file>)`, `add_feed` for each URL (not
timed, like the aggregator's config load and schema creation), then the
timed `update_feeds(workers=16)`. Beside it, in the same run and alternating
which goes first, the aggregator collects the same feeds cold into a fresh
SQLite store (`engine.polls.collect_once`, 16 at once, as in `bench.fanout`). Both must
end with every entry stored: 20,000 in each.

    python -m bench.peer [--quick]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import Figure, main, median
from bench.fanout import (
    CONCURRENCY,
    ITEMS,
    Corpus,
    aggregator_cycle,
    check_cycle,
    served_feeds,
    write_config,
)

NAME = "peer"
REQUIRES = ("nginx",)
FIGURES = ("cold update of every feed",)
FULL_SOURCES, QUICK_SOURCES = 1000, 20
FULL_RUNS, QUICK_RUNS = 3, 1
SPEEDUP_TARGET = 3.0


def time_reader(urls: list[str], database: Path) -> tuple[float, float, int]:
    """(seconds of add_feed for all, seconds of update_feeds, entries stored)."""
    from reader import make_reader

    reader = make_reader(str(database))
    try:
        started = time.perf_counter()
        for url in urls:
            reader.add_feed(url)
        added = time.perf_counter() - started
        started = time.perf_counter()
        reader.update_feeds(workers=CONCURRENCY)
        updated = time.perf_counter() - started
        # update_feeds skips a feed that fails to parse without a word: count.
        entries = reader.get_entry_counts().total
        broken = [feed.url for feed in reader.get_feeds(broken=True)]
        if broken:
            raise RuntimeError(f"reader could not update {len(broken)} feeds, e.g. {broken[0]}")
        return added, updated, entries or 0
    finally:
        reader.close()


def time_aggregator(urls: list[str], directory: Path) -> tuple[float, int]:
    """(seconds of one cold collect, entries stored)."""
    from aggregator.config import load_settings
    from aggregator.store import open_store

    settings = load_settings(write_config(directory, urls), environ={})
    store = open_store(settings.database_url)
    try:
        started = time.perf_counter()
        summaries = asyncio.run(aggregator_cycle(settings, store))
        seconds = time.perf_counter() - started
        check_cycle(summaries, cold=True)
        return seconds, sum(s.entry_count for s in store.read_model.sources().values())
    finally:
        store.close()


def measure(corpus: Corpus, work: Path, runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"reader": [], "reader add": [], "aggregator": []}
    expected = len(corpus.urls) * ITEMS

    def peer(run: int) -> None:
        added, updated, entries = time_reader(corpus.urls, work / f"reader-{run}.sqlite")
        if entries != expected:
            raise RuntimeError(f"reader stored {entries} entries, expected {expected}")
        samples["reader add"].append(added)
        samples["reader"].append(updated)

    def ours(run: int) -> None:
        seconds, entries = time_aggregator(corpus.urls, work / f"aggregator-{run}")
        if entries != expected:
            raise RuntimeError(f"the aggregator stored {entries} entries, expected {expected}")
        samples["aggregator"].append(seconds)

    for run in range(runs):
        first, second = (peer, ours) if run % 2 == 0 else (ours, peer)
        first(run)
        second(run)
    return samples


def run(quick: bool) -> list[Figure]:
    import reader

    count = QUICK_SOURCES if quick else FULL_SOURCES
    runs = QUICK_RUNS if quick else FULL_RUNS
    command = f"python -m bench.{NAME}" + (" --quick" if quick else "")
    with served_feeds(count) as corpus, tempfile.TemporaryDirectory(prefix="bench-peer-") as t:
        samples = measure(corpus, Path(t), runs)
    value, baseline = median(samples["aggregator"]), median(samples["reader"])
    speedup = baseline / value
    return [
        Figure(
            benchmark=NAME,
            name=f"{FIGURES[0]} ({count:,} feeds x {ITEMS} items, cold, C={CONCURRENCY})",
            value=value,
            unit="s",
            baseline_name=f"reader {reader.__version__} update_feeds(workers={CONCURRENCY})",
            baseline=baseline,
            ratio=speedup,
            ratio_meaning="speed-up: reader s / aggregator s",
            target=f"aggregator at least {SPEEDUP_TARGET:g}x faster than reader",
            met=None if quick else speedup >= SPEEDUP_TARGET,
            runs=runs,
            command=command,
            samples=samples["aggregator"],
            notes=[
                f"baseline samples: {[round(s, 3) for s in samples['reader']]}",
                "reader's add_feed for every URL, before and not in its time: "
                f"{[round(s, 3) for s in samples['reader add']]} s",
                f"both stored all {count * ITEMS:,} entries, each into a fresh SQLite file; "
                "feeds served by nginx (1 worker, etag on) on 127.0.0.1",
                "reader fetches and parses in a pool of worker threads (the GIL shared) and "
                "stores in its calling thread; the aggregator fetches on one asyncio loop and "
                "extracts and appends on the same loop",
            ],
        )
    ]


if __name__ == "__main__":
    main(run, NAME)
