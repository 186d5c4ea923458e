"""Figure 5 of issue 7, polling fan-out, and half of figure 7 (peak memory).

1,000 small RSS feeds (20 items each, about 16-22 kB, generated with a fixed seed)
are served as static files by a private nginx on 127.0.0.1 (`etag on`). One
poll cycle of the aggregator, `engine.polls.collect_once` with 16 polls at once over a
real SQLite store in a temporary directory and sources loaded from a
generated config file, is timed cold (every feed fetched, extracted, diffed
and appended: 20,000 entries) and then all-304 (conditional GETs that nginx
answers 304). The baseline is a bare `httpx.AsyncClient` loop over the same
URLs with the same concurrency (an `asyncio.Semaphore(16)`): plain GETs, then
GETs with `If-None-Match` from the first pass. The 304 cycle is the
like-for-like comparison; the cold one also parses and stores everything.

Peak RSS: one cold and one all-304 cycle run in a child process, beside a
child running the bare loop; the figure is the child's own high-water mark
(VmHWM, read by `bench.common.peak_rss_mb`).

    python -m bench.fanout [--quick]
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.common import Figure, main, median, peak_rss_mb
from bench.nginx import Nginx, terminated_on_sigterm

if TYPE_CHECKING:
    from aggregator.config import Settings
    from aggregator.ingest.poll import PollSummary
    from aggregator.store.sql import SqlStore

# The aggregator is imported where it is used, not here: the baseline's child
# process (`--rss-child bare`) must not pay for its imports.

NAME = "fanout"
REQUIRES = ("nginx",)
# Figure names begin with these (the smoke test looks for a row per name).
FIGURES = ("poll cycle, cold", "poll cycle, all 304", "peak RSS of a poll cycle")
CONCURRENCY = 16
ITEMS = 20
FULL_SOURCES, QUICK_SOURCES = 1000, 20
FULL_RUNS, QUICK_RUNS = 3, 1
RATIO_TARGET = 1.5
RSS_TARGET_MB = 300.0

# Words for headlines and paragraphs: what matters is realistic sizes and
# markup, not meaning.
_VOCABULARY = (
    "council minister talks border ceasefire report officials said storm rail strike market "
    "vote budget hospital court ruling energy prices water supply protest police statement "
    "evening morning update residents emergency crews bridge flooding election results "
    "committee inquiry schools teachers union airport flights delayed shipping port harbour "
    "fishermen quota farmers harvest drought forecast winds coast road closure detour traffic "
    "museum festival exhibition library funding grant research university students housing "
    "rents tenants planning permission tower district mayor opposition coalition talks deal"
)
_WORDS = _VOCABULARY.split()


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(low, high))]
    return " ".join(words).capitalize()


def _event_paragraph(event: int) -> str:
    """The long paragraph every outlet covering `event` repeats in each update."""
    rng = random.Random(f"event-{event}")
    return " ".join(f"{_sentence(rng, 9, 13)}." for _ in range(4))


def _varied_body(rng: random.Random, site: str, slug: str) -> str:
    return "".join(
        f"<p>{_sentence(rng, 12, 30)}. {_sentence(rng, 6, 16)}, "
        f'<a href="{site}/{slug}#p{p}">{_sentence(rng, 2, 4).lower()}</a>.</p>'
        for p in range(rng.randint(1, 2))
    )


def _shared_body(rng: random.Random, site: str, slug: str, event: int) -> str:
    """The event's shared paragraph behind a few words and numbers of this update's own."""
    return (
        f"<p>{_sentence(rng, 3, 5)}: {rng.randint(2, 900)} {rng.choice(_WORDS)}, "
        f"{rng.randint(2, 60)} {rng.choice(_WORDS)}. {_event_paragraph(event)} "
        f'<a href="{site}/{slug}">{_sentence(rng, 2, 4).lower()}</a>.</p>'
    )


def feed_bytes(number: int, items: int = ITEMS, outlets: int = 0) -> bytes:
    """RSS 2.0 feed `number`: `items` items, newest first, the same bytes every time.

    With `outlets`, feeds come in groups of that many outlets covering one
    event, as live blogs of one event do: every update's text is then the
    group's one long paragraph plus a few words and numbers of its own
    (near-identical texts, the hard case for story linking), about as long
    as a varied update.
    """
    rng = random.Random(number)
    site = f"https://news{number:04d}.example.org"
    newest = datetime(2026, 11, 20, 18, 0, tzinfo=UTC) - timedelta(minutes=number % 97)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">\n<channel>\n'
        f"<title>Northshire Courier {number:04d}: latest news</title>\n"
        f"<link>{site}/</link>\n"
        f'<atom:link href="{site}/feed.rss" rel="self" type="application/rss+xml"/>\n'
        f"<description>{escape(_sentence(rng, 8, 14))}</description>\n"
        "<language>en-gb</language>\n"
        f"<lastBuildDate>{format_datetime(newest, usegmt=True)}</lastBuildDate>\n"
        "<generator>bench/fanout.py</generator>\n"
    ]
    for index in range(items):
        published = newest - timedelta(minutes=37 * index + rng.randint(0, 20))
        slug = f"{published:%Y/%m/%d}/story-{number:04d}-{index:02d}"
        if outlets:
            body = _shared_body(rng, site, slug, (number - 1) // outlets)
        else:
            body = _varied_body(rng, site, slug)
        categories = "".join(
            f"<category>{rng.choice(_WORDS)}</category>" for _ in range(rng.randint(1, 3))
        )
        parts.append(
            "<item>\n"
            f"<title>{escape(_sentence(rng, 6, 13))}</title>\n"
            f"<link>{site}/{slug}</link>\n"
            f'<guid isPermaLink="true">{site}/{slug}</guid>\n'
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>\n"
            f"<dc:creator>{escape(_sentence(rng, 2, 2).title())}</dc:creator>\n"
            f"{categories}\n"
            f"<description>{escape(body)}</description>\n"
            "</item>\n"
        )
    parts.append("</channel>\n</rss>\n")
    return "".join(parts).encode("utf-8")


def write_feeds(root: Path, count: int, items: int = ITEMS, outlets: int = 0) -> list[str]:
    """Write `count` feeds under `root/feeds/` (see `feed_bytes` for `outlets`);
    their paths relative to `root`."""
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(1, count + 1):
        relative = f"feeds/news-{number:04d}.rss"
        (root / relative).write_bytes(feed_bytes(number, items, outlets))
        paths.append(relative)
    return paths


# The [service] table of this module's configs; `bench.process` writes its own.
SERVICE: Mapping[str, int | str] = {"workers": CONCURRENCY, "per_host": CONCURRENCY}


def config_text(
    database: Path,
    output: Path,
    urls: Sequence[str],
    service: Mapping[str, int | str] = SERVICE,
    interval: str = "5m",
    max_entries: int = 100,
) -> str:
    sources = "".join(
        f"""
[[sources]]
name = "news-{number:04d}"
title = "Northshire Courier {number:04d}"
url = "{url}"
format = "feed"
interval = "{interval}"
"""
        for number, url in enumerate(urls, start=1)
    )
    keys = "".join(f"{key} = {json.dumps(value)}\n" for key, value in service.items())
    return f"""# generated by bench
[storage]
url = "sqlite:///{database}"

[feed]
title = "Benchmark feeds"
id = "tag:example.org,2026:bench"
base_url = "http://127.0.0.1:8080"
max_entries = {max_entries}
output_dir = "{output}"

[service]
{keys}{sources}"""


def write_config(
    directory: Path,
    urls: Sequence[str],
    name: str = "aggregator",
    service: Mapping[str, int | str] = SERVICE,
    interval: str = "5m",
) -> Path:
    """A config for `urls` whose SQLite file and output live in `directory` (made fresh)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    text = config_text(directory / f"{name}.db", directory / "feeds", urls, service, interval)
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Corpus:
    """The feeds on disk, the nginx serving them, and their URLs."""

    root: Path
    nginx: Nginx
    paths: list[str]  # relative to root
    urls: list[str]

    def total_bytes(self) -> int:
        return sum((self.root / path).stat().st_size for path in self.paths)


@contextmanager
def served_feeds(count: int, items: int = ITEMS, outlets: int = 0) -> Iterator[Corpus]:
    """`count` generated feeds (see `feed_bytes` for `outlets`) served by a private
    nginx, for a `with` block."""
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as temp, terminated_on_sigterm():
        root = Path(temp)
        paths = write_feeds(root, count, items, outlets)
        with Nginx(root) as nginx:
            yield Corpus(root, nginx, paths, [f"{nginx.base}/{path}" for path in paths])


# --- the two loops -----------------------------------------------------------------


async def aggregator_cycle(settings: Settings, store: SqlStore) -> list[PollSummary]:
    """One poll of every configured source, 16 at once (the figure's subject)."""
    from dataclasses import replace

    from aggregator.engine.polls import collect_once

    service = replace(settings.service, workers=CONCURRENCY, per_host=CONCURRENCY)
    return await collect_once(
        service, list(settings.sources), store.log, store.read_model, store.clock
    )


def check_cycle(summaries: Sequence[PollSummary], cold: bool, items: int = ITEMS) -> None:
    """A cycle that did not do its whole job would time the wrong thing: refuse it."""
    for s in summaries:
        if s.error:
            raise RuntimeError(f"poll of {s.source} failed: {s.error}")
        if cold and (s.not_modified or s.added != items):
            raise RuntimeError(f"cold poll of {s.source}: added {s.added}, expected {items}")
        if not cold and not s.not_modified:
            raise RuntimeError(f"second poll of {s.source} was not a 304: {s}")


async def bare_cycle(
    urls: Sequence[str],
    etags: dict[str, str] | None = None,
    concurrency: int = CONCURRENCY,
    read: Callable[[bytes], None] | None = None,
) -> dict[str, str]:
    """GET every URL, `concurrency` at once over a pool of as many connections, with
    If-None-Match when `etags` are given, handing each body to `read`; the ETags
    returned. Every answer must be 200 (or 304 when conditional)."""
    limit = asyncio.Semaphore(concurrency)
    expected = 304 if etags else 200
    pool = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30.0, limits=pool) as client:

        async def one(url: str) -> tuple[str, str]:
            headers = {"If-None-Match": etags[url]} if etags else {}
            async with limit:
                response = await client.get(url, headers=headers)
            if response.status_code != expected:
                raise RuntimeError(f"{url} answered {response.status_code}")
            if read is not None:
                read(response.content)
            return url, response.headers.get("ETag", "")

        return dict(await asyncio.gather(*(one(url) for url in urls)))


# --- measuring --------------------------------------------------------------------


def measure_cycles(
    corpus: Corpus, work: Path, runs: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds per cycle for each of the four loops, runs interleaved (the order of
    aggregator and bare alternates), each aggregator run on a fresh database."""
    from aggregator.config import load_settings
    from aggregator.store import open_store

    samples: dict[str, list[float]] = {
        "agg cold": [],
        "agg 304": [],
        "bare cold": [],
        "bare 304": [],
    }
    counts: dict[str, int] = {}

    def aggregator(run: int) -> None:
        settings = load_settings(write_config(work / f"run-{run}", corpus.urls), environ={})
        store = open_store(settings.database_url)
        try:
            started = time.perf_counter()
            cold = asyncio.run(aggregator_cycle(settings, store))
            samples["agg cold"].append(time.perf_counter() - started)
            check_cycle(cold, cold=True)
            started = time.perf_counter()
            warm = asyncio.run(aggregator_cycle(settings, store))
            samples["agg 304"].append(time.perf_counter() - started)
            check_cycle(warm, cold=False)
            counts["entries"] = sum(s.entry_count for s in store.read_model.sources().values())
            counts["events"] = store.log.head()
        finally:
            store.close()

    def bare() -> None:
        started = time.perf_counter()
        etags = asyncio.run(bare_cycle(corpus.urls))
        samples["bare cold"].append(time.perf_counter() - started)
        started = time.perf_counter()
        asyncio.run(bare_cycle(corpus.urls, etags))
        samples["bare 304"].append(time.perf_counter() - started)

    for run in range(runs):
        if run % 2 == 0:
            bare()
            aggregator(run)
        else:
            aggregator(run)
            bare()
    return samples, counts


def measure_rss(corpus: Corpus, work: Path) -> tuple[float, float, list[str]]:
    """Peak RSS (MB) of a child doing a cold and an all-304 aggregator cycle, and of a
    child doing the bare loop's two passes over the same URLs (each child's own
    high-water mark, VmHWM, as `peak_rss_mb` reads it)."""
    results = {}
    for kind in ("bare", "aggregator"):
        config = write_config(work / f"rss-{kind}", corpus.urls)
        results[kind], _ = peak_rss_mb("bench.fanout", "--rss-child", kind, str(config))
    return results["aggregator"], results["bare"], []


def rss_child(kind: str, config: Path) -> None:
    """In the child: the cycles whose peak memory is measured.

    The bare child reads its URLs from the config with tomllib, importing no
    part of the aggregator."""
    if kind == "aggregator":
        from aggregator.config import load_settings
        from aggregator.store import open_store

        settings = load_settings(config, environ={})
        store = open_store(settings.database_url)
        try:
            check_cycle(asyncio.run(aggregator_cycle(settings, store)), cold=True)
            check_cycle(asyncio.run(aggregator_cycle(settings, store)), cold=False)
        finally:
            store.close()
    else:
        import tomllib

        urls = [source["url"] for source in tomllib.loads(config.read_text("utf-8"))["sources"]]
        asyncio.run(bare_cycle(urls, asyncio.run(bare_cycle(urls))))


def run(quick: bool) -> list[Figure]:
    count = QUICK_SOURCES if quick else FULL_SOURCES
    runs = QUICK_RUNS if quick else FULL_RUNS
    command = f"python -m bench.{NAME}" + (" --quick" if quick else "")
    size = f"{count:,} feeds x {ITEMS} items, C={CONCURRENCY}"
    with served_feeds(count) as corpus, tempfile.TemporaryDirectory(prefix="bench-fanout-") as t:
        work = Path(t)
        feed_kb = corpus.total_bytes() / 1024
        samples, counts = measure_cycles(corpus, work, runs)
        agg_rss, bare_rss, rss_notes = measure_rss(corpus, work)
    common_notes = [
        f"{count:,} RSS feeds, {feed_kb / count:.1f} kB each on average ({feed_kb / 1024:.1f} MB "
        f"in all), served by nginx (1 worker, etag on) on 127.0.0.1",
        f"after the cold cycle the store held {counts['entries']:,} entries; "
        f"{counts['events']:,} events after both cycles",
    ]

    def timing(label: str, key: str, meaning: str, extra: list[str]) -> Figure:
        value, baseline = median(samples[f"agg {key}"]), median(samples[f"bare {key}"])
        ratio = value / baseline
        return Figure(
            benchmark=NAME,
            name=f"{label} ({size})",
            value=value,
            unit="s",
            baseline_name=meaning,
            baseline=baseline,
            ratio=ratio,
            ratio_meaning="aggregator s / bare s",
            target=f"aggregator within {RATIO_TARGET}x of the bare httpx loop",
            met=None if quick else ratio <= RATIO_TARGET,
            runs=runs,
            command=command,
            samples=samples[f"agg {key}"],
            notes=[
                f"baseline samples: {[round(s, 4) for s in samples[f'bare {key}']]}",
                *common_notes,
                *extra,
            ],
        )

    figures = [
        timing(
            FIGURES[0],
            "cold",
            "bare httpx GETs",
            [
                "not like for like: the aggregator also extracts, sanitises, diffs and appends "
                f"{count * ITEMS:,} entries (and folds them into the projection); the bare loop "
                "only downloads the bytes"
            ],
        ),
        timing(
            FIGURES[1],
            "304",
            "bare httpx If-None-Match GETs",
            ["like for like: every request answered 304, nothing extracted or stored"],
        ),
        Figure(
            benchmark=NAME,
            name=f"{FIGURES[2]} (cold + all-304, {count:,} feeds, child process)",
            value=agg_rss,
            unit="MB",
            baseline_name="bare httpx loop child",
            baseline=bare_rss,
            ratio=agg_rss / bare_rss,
            ratio_meaning="aggregator MB / bare MB",
            target=f"peak RSS < {RSS_TARGET_MB:.0f} MB",
            met=None if quick else agg_rss < RSS_TARGET_MB,
            runs=1,
            command=command,
            samples=[agg_rss],
            notes=[
                "peak resident memory (VmHWM) of a fresh `python -m bench.fanout --rss-child` "
                "process, interpreter and imports included",
                *rss_notes,
            ],
        ),
    ]
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rss-child"]:
        rss_child(sys.argv[2], Path(sys.argv[3]))
    else:
        main(run, NAME)
