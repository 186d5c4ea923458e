"""Figure 4 (and half of figure 7): replaying a million events into fresh projections.

Events per second through reset → read → decode → fold → write, beside a bare
scan of the same event table with sqlite3 that decodes every payload with
json.loads. Target (issue 17): at least 100,000 events/s, within 2x of the
bare scan. The peak resident memory of the replay, run alone in a child
process, has a target of under 300 MB.

The bare scan is the least any replay must do, kept that way on purpose: it
reads the same rows (every event, in log order) and the same seven columns
the replay reads (`store.sql._EVENT_COLUMNS`), and decodes each payload from
JSON, into plain dicts. Turning them into typed events (times parsed,
dataclasses built, old schema versions upcast) is the replay's own work and
counts on its side: a baseline doing it too would be our code timed twice,
and would hide its cost.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from aggregator.store import open_store
from aggregator.store.catchup import catch_up
from bench.common import Figure, main, median, peak_rss_mb, timed
from bench.data import big_log

RATIO_TARGET = 2.0


def replay(path: Path) -> int:
    store = open_store(f"sqlite:///{path}")
    try:
        store.read_model.reset()
        return catch_up(store.log, store.read_model)
    finally:
        store.close()


def bare_scan(path: Path) -> int:
    db = sqlite3.connect(path)
    count = 0
    try:
        rows = db.execute(
            "SELECT position, event_key, type, schema_version, recorded_at, source, payload"
            " FROM events ORDER BY position"
        )
        for row in rows:
            json.loads(row[6])
            count += 1
    finally:
        db.close()
    return count


def run(quick: bool) -> list[Figure]:
    count, runs = (2_000, 2) if quick else (1_000_000, 3)
    path = big_log(count)
    ours = timed(lambda: replay(path), runs)
    bare = timed(lambda: bare_scan(path), runs)
    rate = count / median(ours)
    ratio = median(ours) / median(bare)
    rss, _ = peak_rss_mb("bench.replay", "--child", str(path))
    return [
        Figure(
            benchmark="replay",
            name=f"replay {count:,} events into fresh projections",
            value=rate,
            unit="events/s",
            baseline_name="bare sqlite3 scan with json.loads, events/s",
            baseline=count / median(bare),
            ratio=ratio,
            ratio_meaning="our time / bare time",
            target=f">= 100,000 events/s, ratio <= {RATIO_TARGET:g}",
            met=rate >= 100_000 and ratio <= RATIO_TARGET,
            runs=runs,
            command="python -m bench.replay",
            samples=ours,
            notes=[f"bare samples: {bare}"],
        ),
        Figure(
            benchmark="replay",
            name=f"peak RSS of a replay of {count:,} events (its own process)",
            value=rss,
            unit="MB",
            baseline_name="-",
            baseline=None,
            ratio=None,
            ratio_meaning="",
            target="< 300 MB",
            met=rss < 300,
            runs=1,
            command="python -m bench.replay",
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        replay(Path(sys.argv[2]))
    else:
        main(run, "replay")
