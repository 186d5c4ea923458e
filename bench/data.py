"""Generated inputs for the benchmarks: a large live blog, and a large event log.

Sizes are realistic rather than minimal: a live-blog update is a headline
and two paragraphs (about 640 bytes), and a log is mostly poll bookkeeping
with an entry event in every third record, as a year of polling gives.
Everything is seeded, so every run measures the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aggregator.config import Settings, load_settings
from aggregator.core.events import EntryAdded, Event, SourcePolled, to_payload
from aggregator.core.model import content_hash
from aggregator.core.states import StoredEvent

WORDS = (
    *("the", "of", "and", "ceasefire", "talks", "shelling", "capital", "region", "forces"),
    *("ministry", "said", "statement", "officials", "reported", "border", "civilians"),
    *("killed", "wounded", "artillery", "drones", "negotiations", "president", "minister"),
    *("army", "villages", "overnight", "morning", "according", "spokesman"),
)
DAY = datetime(2020, 9, 27, tzinfo=UTC)


def liveblog_text(updates: int, seed: int = 1) -> bytes:
    """A timestamped live blog, newest first, `updates` updates over one day."""
    chance = random.Random(seed)

    def words(count: int) -> str:
        return " ".join(chance.choice(WORDS) for _ in range(count))

    lines = ["Generated live blog", "", "Here are the latest updates:", ""]
    for n in range(updates, 0, -1):
        when = DAY + timedelta(seconds=int(n * 82_800 / updates))
        lines += [f"{when:%H:%M} GMT \u2013 {words(8).capitalize()} {n}", ""]
        lines += [words(35).capitalize() + ".", "", words(35).capitalize() + ".", ""]
    return "\n".join(lines).encode("utf-8")


def config(root: Path, sources: dict[str, str], fmt: str = "liveblog-text") -> Settings:
    """Settings for `sources` (name -> URL or path), with an SQLite log under `root`.

    Pages are kept whole: the default cap of 2,000 entries a poll would cut
    the 10,000-update page that `bench.ingest` times."""
    root.mkdir(parents=True, exist_ok=True)
    tables = "".join(
        f"""
[[sources]]
name = "{name}"
url = "{url}"
format = "{fmt}"
interval = "5m"
timezone = "UTC"
date = 2020-09-27
max_entries_per_poll = 100000
"""
        for name, url in sources.items()
    )
    path = root / "bench.toml"
    path.write_text(
        f"""
[storage]
url = "sqlite:///{root / "bench.db"}"

[feed]
title = "Benchmark"
id = "tag:example.org,2020:bench"
base_url = "http://127.0.0.1:8080"
output_dir = "{root / "feeds"}"
max_entries = 100
{tables}""",
        encoding="utf-8",
    )
    return load_settings(path, environ={})


def log_records(count: int, sources: int = 10, seed: int = 2) -> Iterator[StoredEvent]:
    """`count` stored events: per source, an entry event then two polls, in turn."""
    chance = random.Random(seed)
    recorded = DAY
    for position in range(1, count + 1):
        source = f"source-{position % sources}"
        recorded += timedelta(seconds=3)
        event: Event
        if position % 3 == 1:
            body = " ".join(chance.choice(WORDS) for _ in range(70))
            title = f"Update {position}: " + " ".join(chance.choice(WORDS) for _ in range(8))
            html = f"<p>{body}.</p>"
            event = EntryAdded(
                source=source,
                key=f"{recorded:%Y-%m-%dT%H:%M:%S}Z#{position}",
                entry_id=f"tag:example.org,2020:bench/{source}/{position}",
                version=1,
                title=title,
                content_html=html,
                published=recorded,
                updated=recorded,
                link=f"https://example.org/{source}#{position}",
                author="Desk",
                content_hash=content_hash(title, html),
            )
        else:
            event = SourcePolled(
                source=source,
                poll_id=f"{position:032x}",
                fetched_at=recorded,
                entries_seen=40,
                unchanged=40,
                etag=f'"{position:x}"',
                last_modified="Sun, 27 Sep 2020 12:00:00 GMT",
            )
        yield StoredEvent(
            position=position,
            event_key=event.event_key,
            type=event.type_name,
            schema_version=2,
            recorded_at=recorded,
            source=source,
            payload=to_payload(event),
        )


DATA = Path(__file__).resolve().parent.parent / "var" / "bench" / "data"
LOG_VERSION = 1  # bump when log_records changes, so cached logs are rebuilt


def big_log(count: int) -> Path:
    """An SQLite file holding `count` generated events, folded: built once, then reused.

    A million events take a minute or two to write and fold; every benchmark
    that needs a big log shares this file (a replay resets its projections
    first, so it stays reusable).
    """
    from aggregator.store import open_store
    from aggregator.store.catchup import catch_up

    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"log-{count}-v{LOG_VERSION}.db"
    ready = path.with_suffix(".ready")
    if ready.exists() and path.exists():
        return path
    for stale in DATA.glob(f"log-{count}-v{LOG_VERSION}.db*"):
        stale.unlink()
    store = open_store(f"sqlite:///{path}")
    try:
        store.log.restore(log_records(count))
        catch_up(store.log, store.read_model)
    finally:
        store.close()
    ready.write_text(f"{count} events\n", encoding="utf-8")
    return path
