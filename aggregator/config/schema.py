"""Every config key, declared once: the tables of the file and what each key means.

Each `[table]` is a frozen dataclass whose fields are its keys (see
`aggregator.config.keys`), declared in the order they are read: the first
problem reported is the first in this order, and a key may depend on one
above it (an interval's floor on the URL, a source id's default on its name).
The README's configuration reference is generated from this module
(`python -m aggregator.config`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from aggregator.config import kinds
from aggregator.config.keys import Fallback, Key, Place, Section, key, same_as, section, toml
from aggregator.core.errors import ConfigError
from aggregator.core.model import MAX_ENTRIES_PER_POLL, Format

_SECOND = dt.timedelta(seconds=1)


@section(
    "storage",
    "Optional. Where the event log is kept; `$AGGREGATOR_DATABASE_URL` overrides `url`.",
)
class StorageConfig:
    url: str = key(
        kinds.DatabaseUrl(),
        "SQLite (a relative path is relative to this file) or PostgreSQL",
        fallback=toml("sqlite:///aggregator.db"),
    )


@section("feed", "Required. The merged feed, and where the documents are written.")
class FeedConfig:
    id: str = key(
        kinds.Uri("a URI such as tag:example.org,2020:event"),
        "the merged feed's Atom id; tag URIs suit best",
    )
    base_url: str = key(kinds.BaseUrl(), "where the feeds are served; self links use it")
    max_entries: int = key(kinds.Integer(1, 10_000), "entries in the merged feed", default=100)
    title: str = key(kinds.TEXT, "the merged feed's title")
    output_dir: Path = key(
        kinds.OutputDir(),
        "where feed files are written, relative to this file",
        fallback=toml("feeds"),
    )
    author: str = key(kinds.TEXT, "the feed-level author", fallback=same_as("title"))
    subtitle: str | None = key(kinds.TEXT, "the merged feed's subtitle", default=None)
    # Older entries than the `max_entries` newest go to RFC 5005 archive pages.
    archive_size: int = key(
        kinds.Integer(1, 10_000), "entries per RFC 5005 archive page", default=100
    )
    # The window is chosen fairly between sources from this many latest
    # arrivals (`publish.archive`), so a flooding source cannot push the others out.
    fair_span: int = key(
        kinds.Integer(1, 100_000),
        "the latest arrivals the merged feed is chosen from, fairly between sources "
        "(at least `max_entries`); the older are archived",
        default=500,
    )
    hub: str | None = key(
        kinds.Hub(), "a WebSub hub the feeds advertise and the service pings", default=None
    )


def _source_id(at: Place) -> str:
    return f"{at.earlier('feed', FeedConfig).id}/{at.earlier('name', str)}"


SELECTORS = Section(
    "sources.selectors",
    "Optional, for HTML live blogs without JSON-LD. Each selector is compiled when the "
    "config loads, so a typo is a config error naming the key.",
    (
        Key(
            "update", kinds.CssSelector("the CSS selector of one update"), "one element per update"
        ),
        Key("time", kinds.CSS, "its time; a `<time datetime>` beats visible text", default=None),
        Key("title", kinds.CSS, "its title", default=None),
        Key("body", kinds.CSS, "its body", default=None),
    ),
)


@section(
    "sources",
    "At least one. A polled source; `link` is its public page (used for alternate links).",
    array=True,
    label="name",
)
class SourceConfig:
    name: str = key(kinds.Name(), "names the source in files, URLs and messages")
    url: str = key(kinds.SourceUrl(), "what is polled; a relative path is relative to this file")
    format: Format = key(kinds.FormatName(), "how it is read (see Formats below)", default="auto")
    timezone: ZoneInfo = key(
        kinds.TimeZone(), "the IANA zone that decides what the page's times mean", default="UTC"
    )
    day: dt.date | None = key(
        kinds.FirstDay(),
        "the live blog's first day, or a date-time for its start (naive: in `timezone`)",
        default=None,
        name="date",
    )
    start: dt.datetime | None = key(
        kinds.StartTime(), "the start, when `date` is a date-time", default=None, name="date"
    )
    link: str = key(kinds.TEXT, "the public page, for alternate links", fallback=same_as("url"))
    id: str = key(
        kinds.Uri("a URI"),
        "the source's Atom id",
        fallback=Fallback("`<feed id>/<name>`", _source_id),
    )
    interval: dt.timedelta = key(kinds.Interval(), "how often it is polled", default="5m")
    # A page that flips between versions would otherwise add a revision per
    # poll, forever (see `ingest.plan`).
    revise_every: dt.timedelta = key(
        kinds.Duration(dt.timedelta(0), dt.timedelta(days=1)),
        "after an entry's first revision, at most one more per entry this often; "
        "a change seen sooner waits, 0 records every change",
        default="10m",
    )
    title: str = key(kinds.TEXT, "the outlet, shown in atom:source", fallback=same_as("name"))
    author: str | None = key(kinds.TEXT, "used when the page credits nobody", default=None)
    selectors: Mapping[str, str] = key(
        kinds.Selectors(SELECTORS),
        "CSS selectors for an HTML page (see below)",
        factory=dict,
    )
    max_entries_per_poll: int = key(
        kinds.Integer(1, 100_000),
        "entries one poll keeps from the page: the newest, with a note on the poll",
        default=MAX_ENTRIES_PER_POLL,
    )


@section("service", "Optional. How `aggregator run` and `serve` behave.")
class ServiceConfig:
    host: str = key(kinds.TEXT, "the address to listen on; `--host` overrides", default="127.0.0.1")
    port: int = key(
        kinds.Integer(0, 65535), "the port; `--port` overrides, 0 picks a free port", default=8080
    )
    max_backoff: dt.timedelta = key(
        kinds.Duration(_SECOND, kinds.MAX_INTERVAL),
        "ceiling for failure backoff and server pacing",
        default="1h",
    )
    jitter: dt.timedelta = key(
        kinds.Duration(dt.timedelta(0), dt.timedelta(hours=1)),
        "random delay added to each poll (at most a quarter of the interval)",
        default="10s",
    )
    workers: int = key(
        kinds.Integer(1, 64),
        "threads that extract and store polls (the CPU and database side of a poll)",
        default=4,
    )
    fetches: int = key(
        kinds.Integer(1, 1024),
        "polls running at once (a poll waiting on a slow server holds one of these, not a worker)",
        default=64,
    )
    per_host: int = key(kinds.Integer(1, 16), "polls running at once against one host", default=2)
    shutdown_grace: dt.timedelta = key(
        kinds.Duration(dt.timedelta(0), dt.timedelta(minutes=10)),
        "how long a stop waits for polls in flight",
        default="10s",
    )
    extract_budget: dt.timedelta = key(
        kinds.Duration(dt.timedelta(milliseconds=10), dt.timedelta(minutes=10)),
        "CPU time one page may take to read; past it the poll fails (kind `budget`)",
        default="20s",
    )
    cache_max_age: dt.timedelta = key(
        kinds.Duration(dt.timedelta(0), dt.timedelta(days=1)),
        "Cache-Control max-age on served feeds",
        default="60s",
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """A loaded config. `database_key` says where `database_url` came from
    (`storage.url`, or the environment overriding it), so a database that
    cannot be opened is reported against the setting to fix."""

    path: Path
    database_url: str
    feed: FeedConfig
    sources: tuple[SourceConfig, ...]
    service: ServiceConfig = field(default_factory=ServiceConfig)
    database_key: str = "storage.url"

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(
            str(self.path), "sources", f"no source named {name!r} (expected one of: {known})"
        )
