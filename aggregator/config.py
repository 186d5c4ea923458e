"""TOML configuration → typed, validated settings.

Every problem is reported as a `ConfigError` naming the file, the key (as a
path such as `sources[1].interval`) and what was expected, because the person
reading it is usually editing that file right now. Unknown keys are errors,
not warnings: a misspelt `intreval` silently ignored is a source polled at the
wrong rate for weeks.

Relative paths in the file (file sources, the SQLite database, the output
directory) are resolved against the config file's own directory, so the
service behaves the same whatever directory it is started from.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast, get_args
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cssselect import GenericTranslator, SelectorError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from aggregator.errors import ConfigError
from aggregator.model import Format

DEFAULT_CONFIG = "config/aggregator.toml"
CONFIG_ENV = "AGGREGATOR_CONFIG"
DATABASE_ENV = "AGGREGATOR_DATABASE_URL"
MIN_INTERVAL = timedelta(seconds=10)
MIN_LOCAL_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(days=7)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FORMATS: tuple[str, ...] = get_args(Format)


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One polled source. `link` is its public page (used for alternate links)."""

    name: str
    url: str
    format: Format
    interval: timedelta
    timezone: ZoneInfo
    title: str
    link: str
    id: str
    day: date | None = None
    start: datetime | None = None
    author: str | None = None
    selectors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeedConfig:
    title: str
    id: str
    base_url: str
    max_entries: int
    output_dir: Path
    author: str
    subtitle: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How `aggregator run` and `serve` behave (the `[service]` table)."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_backoff: timedelta = timedelta(hours=1)
    jitter: timedelta = timedelta(seconds=10)
    workers: int = 4
    per_host: int = 2
    shutdown_grace: timedelta = timedelta(seconds=10)
    cache_max_age: timedelta = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path
    database_url: str
    feed: FeedConfig
    sources: tuple[SourceConfig, ...]
    service: ServiceConfig = ServiceConfig()

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(str(self.path), "sources", f"no source named {name!r} (known: {known})")


_TOP_KEYS = {"storage", "feed", "sources", "service"}
_SERVICE_KEYS = {
    "host", "port", "max_backoff", "jitter", "workers", "per_host", "shutdown_grace",
    "cache_max_age",
}  # fmt: skip
_STORAGE_KEYS = {"url"}
_FEED_KEYS = {"title", "id", "base_url", "max_entries", "output_dir", "author", "subtitle"}
_SOURCE_KEYS = {
    "name", "url", "format", "interval", "timezone", "date", "title", "link", "id", "author",
    "selectors",
}  # fmt: skip
_SELECTOR_KEYS = {"update", "time", "title", "body"}


def config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: Path, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and validate a config file; `AGGREGATOR_DATABASE_URL` overrides storage."""
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(where, None, "config file not found") from None
    except (PermissionError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(where, None, f"cannot read config file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, None, f"not valid TOML: {exc}") from None
    return _Reader(path).settings(raw, environ)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.base = path.resolve().parent

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.where, key, problem)

    def table(self, value: object, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {type(value).__name__}")
        for name in value:
            if name not in allowed:
                expected = ", ".join(sorted(allowed))
                raise self.fail(
                    f"{key}.{name}" if key else name, f"unknown key (expected one of: {expected})"
                )
        return cast(dict[str, Any], value)

    def string(
        self, table: dict[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = table.get(key, default)
        if value is None:
            raise self.fail(f"{where}.{key}", "missing (expected a string)")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", f"expected a non-empty string, got {value!r}")
        return value.strip()

    def optional_string(self, table: dict[str, Any], key: str, where: str) -> str | None:
        return self.string(table, key, where) if key in table else None

    def settings(self, raw: dict[str, Any], environ: Mapping[str, str]) -> Settings:
        top = self.table(raw, "", _TOP_KEYS)
        storage = self.table(top.get("storage", {}), "storage", _STORAGE_KEYS)
        database_url = environ.get(DATABASE_ENV) or self.database_url(storage)
        feed = self.feed(self.table(top.get("feed"), "feed", _FEED_KEYS) if "feed" in top else None)
        sources_raw = top.get("sources")
        if not isinstance(sources_raw, list) or not sources_raw:
            raise self.fail("sources", "expected at least one [[sources]] table")
        sources = tuple(self.source(item, i, feed) for i, item in enumerate(sources_raw))
        seen: set[str] = set()
        for i, source in enumerate(sources):
            if source.name in seen:
                raise self.fail(f"sources[{i}].name", f"duplicate source name {source.name!r}")
            seen.add(source.name)
        service = self.service(self.table(top.get("service", {}), "service", _SERVICE_KEYS))
        return Settings(
            path=self.path,
            database_url=database_url,
            feed=feed,
            sources=sources,
            service=service,
        )

    def service(self, table: dict[str, Any]) -> ServiceConfig:
        default = ServiceConfig()
        return ServiceConfig(
            host=self.string(table, "host", "service", default=default.host),
            port=self.integer(table, "port", "service", default.port, 0, 65535),
            max_backoff=self.duration(
                table, "max_backoff", default.max_backoff, timedelta(seconds=1), MAX_INTERVAL
            ),
            jitter=self.duration(table, "jitter", default.jitter, timedelta(0), timedelta(hours=1)),
            workers=self.integer(table, "workers", "service", default.workers, 1, 64),
            per_host=self.integer(table, "per_host", "service", default.per_host, 1, 16),
            shutdown_grace=self.duration(
                table, "shutdown_grace", default.shutdown_grace, timedelta(0), timedelta(minutes=10)
            ),
            cache_max_age=self.duration(
                table, "cache_max_age", default.cache_max_age, timedelta(0), timedelta(days=1)
            ),
        )

    def integer(
        self, table: dict[str, Any], key: str, where: str, default: int, low: int, high: int
    ) -> int:
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(
                f"{where}.{key}", f"expected an integer from {low} to {high}, got {value!r}"
            )
        return value

    def duration(
        self, table: dict[str, Any], key: str, default: timedelta, low: timedelta, high: timedelta
    ) -> timedelta:
        if key not in table:
            return default
        seconds = parse_duration(table[key])
        if seconds is None or not low <= timedelta(seconds=seconds) <= high:
            raise self.fail(
                f"service.{key}",
                f"expected a duration such as '30s' or '5m', from {_show(low)} to {_show(high)}, "
                f"got {table[key]!r}",
            )
        return timedelta(seconds=seconds)

    def database_url(self, storage: dict[str, Any]) -> str:
        url = self.string(storage, "url", "storage", default="sqlite:///aggregator.db")
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise self.fail("storage.url", f"expected a database URL, got {url!r}") from None
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise self.fail("storage.url", f"expected sqlite:/// or postgresql://, got {url!r}")
        if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
            parsed = parsed.set(database=os.path.normpath(self.base / parsed.database))
        return parsed.render_as_string(hide_password=False)

    def feed(self, table: dict[str, Any] | None) -> FeedConfig:
        if table is None:
            raise self.fail("feed", "missing [feed] table (expected title, id, base_url)")
        feed_id = self.string(table, "id", "feed")
        if not _is_uri(feed_id):
            raise self.fail(
                "feed.id", f"expected a URI such as tag:example.org,2020:event, got {feed_id!r}"
            )
        base_url = self.string(table, "base_url", "feed").rstrip("/")
        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
            raise self.fail("feed.base_url", f"expected an absolute http(s) URL, got {base_url!r}")
        max_entries = table.get("max_entries", 100)
        if (
            not isinstance(max_entries, int)
            or isinstance(max_entries, bool)
            or not 1 <= max_entries <= 10_000
        ):
            raise self.fail(
                "feed.max_entries", f"expected an integer from 1 to 10000, got {max_entries!r}"
            )
        title = self.string(table, "title", "feed")
        return FeedConfig(
            title=title,
            id=feed_id,
            base_url=base_url,
            max_entries=max_entries,
            output_dir=Path(
                os.path.normpath(
                    self.base / self.string(table, "output_dir", "feed", default="feeds")
                )
            ),
            author=self.string(table, "author", "feed", default=title),
            subtitle=self.optional_string(table, "subtitle", "feed"),
        )

    def source(self, item: object, index: int, feed: FeedConfig) -> SourceConfig:
        where = f"sources[{index}]"
        table = self.table(item, where, _SOURCE_KEYS)
        name = self.string(table, "name", where)
        if not NAME_PATTERN.match(name):
            raise self.fail(
                f"{where}.name",
                "expected lowercase letters, digits, '-' or '_' "
                f"(it names files and URLs), got {name!r}",
            )
        where = f"{where} ({name})"
        url = self.url(self.string(table, "url", where), f"{where}.url")
        fmt = table.get("format", "auto")
        if fmt not in FORMATS:
            raise self.fail(f"{where}.format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
        zone = self.timezone(table.get("timezone", "UTC"), f"{where}.timezone")
        day, start = self.day(table.get("date"), zone, f"{where}.date")
        link = self.optional_string(table, "link", where) or url
        source_id = self.optional_string(table, "id", where) or f"{feed.id}/{name}"
        if not _is_uri(source_id):
            raise self.fail(f"{where}.id", f"expected a URI, got {source_id!r}")
        return SourceConfig(
            name=name,
            url=url,
            format=cast(Format, fmt),
            interval=self.interval(table.get("interval", "5m"), f"{where}.interval", url),
            timezone=zone,
            title=self.optional_string(table, "title", where) or name,
            link=link,
            id=source_id,
            day=day,
            start=start,
            author=self.optional_string(table, "author", where),
            selectors=self.selectors(table.get("selectors"), f"{where}.selectors"),
        )

    def url(self, value: str, key: str) -> str:
        """http(s) URLs as they are; file URLs and relative paths resolved to file:///…"""
        scheme = urlsplit(value).scheme
        if scheme in ("http", "https"):
            if not urlsplit(value).netloc:
                raise self.fail(key, f"expected an absolute URL, got {value!r}")
            return value
        if scheme in ("", "file"):
            return urljoin(self.base.as_uri() + "/", value)
        raise self.fail(key, f"expected an http(s) URL, a file URL or a path, got {value!r}")

    def selectors(self, value: object, key: str) -> dict[str, str]:
        """CSS selectors for HTML pages without JSON-LD; each must compile."""
        if value is None:
            return {}
        table = self.table(value, key, _SELECTOR_KEYS)
        if "update" not in table:
            raise self.fail(f"{key}.update", "missing (expected the CSS selector of one update)")
        compiled: dict[str, str] = {}
        for name, selector in table.items():
            if not isinstance(selector, str) or not selector.strip():
                raise self.fail(f"{key}.{name}", f"expected a CSS selector, got {selector!r}")
            try:
                GenericTranslator().css_to_xpath(selector)
            except SelectorError as exc:
                raise self.fail(
                    f"{key}.{name}", f"not a valid CSS selector ({exc}): {selector!r}"
                ) from None
            compiled[name] = selector.strip()
        return compiled

    def timezone(self, value: object, key: str) -> ZoneInfo:
        if not isinstance(value, str):
            raise self.fail(
                key, f"expected an IANA time zone name such as 'Europe/London', got {value!r}"
            )
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(
                key,
                f"unknown time zone {value!r} (expected an IANA name such as 'America/New_York')",
            ) from None

    def day(self, value: object, zone: ZoneInfo, key: str) -> tuple[date | None, datetime | None]:
        """`date` is the live blog's first day, or a full start time (naive = source zone)."""
        if value is None:
            return None, None
        if isinstance(value, str):
            try:
                value = (
                    datetime.fromisoformat(value)
                    if "T" in value or " " in value
                    else date.fromisoformat(value)
                )
            except ValueError:
                raise self.fail(
                    key, f"expected a date such as 2020-09-27 or a date-time, got {value!r}"
                ) from None
        if isinstance(value, datetime):
            start = value if value.tzinfo else value.replace(tzinfo=zone)
            return start.astimezone(zone).date(), start
        if isinstance(value, date):
            return value, None
        raise self.fail(key, f"expected a date such as 2020-09-27, got {value!r}")

    def interval(self, value: object, key: str, url: str) -> timedelta:
        """Polling more often than every 10s is allowed only for files and this machine."""
        parts = urlsplit(url)
        local = parts.scheme == "file" or parts.hostname in LOOPBACK_HOSTS
        low = MIN_LOCAL_INTERVAL if local else MIN_INTERVAL
        seconds = parse_duration(value)
        expected = (
            f"a duration such as '90s', '5m', '1h30m' or a number of seconds, "
            f"from {_show(low)} to 7 days"
        )
        if seconds is None:
            raise self.fail(key, f"expected {expected}, got {value!r}")
        interval = timedelta(seconds=seconds)
        if not low <= interval <= MAX_INTERVAL:
            if interval < MIN_INTERVAL and low == MIN_INTERVAL:
                expected += " (under 10s only for file and loopback sources)"
            raise self.fail(key, f"expected {expected}, got {value!r}")
        return interval


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> float | None:
    """Seconds in '1h30m'-style text or a plain number; None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip().lower())
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def _show(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _is_uri(value: str) -> bool:
    scheme = urlsplit(value).scheme
    return (
        bool(scheme) and bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*$", scheme)) and " " not in value
    )
