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

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast, get_args
from urllib.parse import SplitResult, unquote, urljoin, urlsplit
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
    # Entries per archive document of the merged feed (RFC 5005): older
    # entries than the `max_entries` newest go to pages of this many.
    archive_size: int = 100
    # A WebSub hub the feeds advertise and the service pings on change.
    hub: str | None = None


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
    """`database_key` says where `database_url` came from (`storage.url`, or the
    environment overriding it), so a database that cannot be opened is reported
    against the setting to fix."""

    path: Path
    database_url: str
    feed: FeedConfig
    sources: tuple[SourceConfig, ...]
    service: ServiceConfig = ServiceConfig()
    database_key: str = "storage.url"

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise ConfigError(
            str(self.path), "sources", f"no source named {name!r} (expected one of: {known})"
        )


_TOP_KEYS = {"storage", "feed", "sources", "service"}
_SERVICE_KEYS = {
    "host", "port", "max_backoff", "jitter", "workers", "per_host", "shutdown_grace",
    "cache_max_age",
}  # fmt: skip
_STORAGE_KEYS = {"url"}
_FEED_KEYS = {
    "title", "id", "base_url", "max_entries", "output_dir", "author", "subtitle", "archive_size",
    "hub",
}  # fmt: skip
_SOURCE_KEYS = {
    "name", "url", "format", "interval", "timezone", "date", "title", "link", "id", "author",
    "selectors",
}  # fmt: skip
_SELECTOR_KEYS = {"update", "time", "title", "body"}
# What the store can open: make_engine uses psycopg for a bare postgresql://.
_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"})


def config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: Path, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and validate a config file; `AGGREGATOR_DATABASE_URL` overrides storage.

    Whatever the file holds (binary junk, TOML nested thousands deep), the
    result is settings or a `ConfigError`: the command prints one line for it.
    """
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            where,
            None,
            "config file not found (expected a TOML file; --config or $AGGREGATOR_CONFIG "
            "names another)",
        ) from None
    except OSError as exc:
        raise ConfigError(
            where,
            None,
            f"cannot read config file: {exc.strerror or exc} (expected a readable TOML file)",
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            where,
            None,
            f"not UTF-8 text: byte {data[exc.start]:#04x} at offset {exc.start} "
            "(expected a TOML file in UTF-8)",
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, None, f"not valid TOML: {exc}") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively.
        raise ConfigError(
            where, None, "not valid TOML: arrays or tables nested too deeply"
        ) from None
    return settings_from(raw, path, environ)


def settings_from(
    raw: dict[str, Any], path: Path, environ: Mapping[str, str] = os.environ
) -> Settings:
    """Validate an already parsed config as if it were the file at `path` (which is
    not read: relative paths resolve against its directory, errors name it)."""
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
            raise self.fail(key, f"expected a table, got {_got(value)}")
        for name in value:
            if name not in allowed:
                expected = ", ".join(sorted(allowed))
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f", did you mean {close[0]!r}?" if close else ""
                raise self.fail(
                    f"{key}.{name}" if key else name,
                    f"unknown key{hint} (expected one of: {expected})",
                )
        return cast(dict[str, Any], value)

    def string(
        self, table: dict[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = table.get(key, default)
        if value is None:
            raise self.fail(f"{where}.{key}", "missing (expected a string)")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", f"expected a non-empty string, got {_got(value)}")
        return value.strip()

    def optional_string(self, table: dict[str, Any], key: str, where: str) -> str | None:
        return self.string(table, key, where) if key in table else None

    def settings(self, raw: dict[str, Any], environ: Mapping[str, str]) -> Settings:
        if not raw:
            # Most likely the wrong file: say so rather than "missing [feed]".
            raise self.fail(
                "", "empty config file (expected a [feed] table and at least one [[sources]] table)"
            )
        top = self.table(raw, "", _TOP_KEYS)
        storage = self.table(top.get("storage", {}), "storage", _STORAGE_KEYS)
        database_key = "storage.url"
        if override := environ.get(DATABASE_ENV):
            database_key = f"storage.url (overridden by ${DATABASE_ENV})"
            database_url = self.database_url(override, database_key, resolve=False)
        else:
            url = self.string(storage, "url", "storage", default="sqlite:///aggregator.db")
            database_url = self.database_url(url, database_key, resolve=True)
        feed = self.feed(self.table(top.get("feed"), "feed", _FEED_KEYS) if "feed" in top else None)
        sources_raw = top.get("sources")
        if not isinstance(sources_raw, list) or not sources_raw:
            raise self.fail("sources", "expected at least one [[sources]] table")
        sources = tuple(self.source(item, i, feed) for i, item in enumerate(sources_raw))
        seen: dict[str, int] = {}
        for i, source in enumerate(sources):
            if source.name in seen:
                raise self.fail(
                    f"sources[{i}].name",
                    f"duplicate source name {source.name!r}, already used by "
                    f"sources[{seen[source.name]}] (expected a unique name: it names files "
                    "and URLs)",
                )
            seen[source.name] = i
        service = self.service(self.table(top.get("service", {}), "service", _SERVICE_KEYS))
        return Settings(
            path=self.path,
            database_url=database_url,
            feed=feed,
            sources=sources,
            service=service,
            database_key=database_key,
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
                f"{where}.{key}", f"expected an integer from {low} to {high}, got {_got(value)}"
            )
        return value

    def duration(
        self, table: dict[str, Any], key: str, default: timedelta, low: timedelta, high: timedelta
    ) -> timedelta:
        if key not in table:
            return default
        seconds = parse_duration(table[key])
        if seconds is None or not _within(seconds, low, high):
            raise self.fail(
                f"service.{key}",
                f"expected a duration such as '30s' or '5m', from {_show(low)} to {_show(high)}, "
                f"got {_got(table[key])}",
            )
        return timedelta(seconds=seconds)

    def database_url(self, url: str, key: str, resolve: bool) -> str:
        """A database URL the store can open: a known backend and driver, and for
        SQLite a file whose directory exists or can be made.

        Messages show the URL with its password masked: they end up in
        terminals, CI logs and bug reports. `resolve` makes a relative SQLite
        path relative to the config file (the environment's stays as given).
        """
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            raise self.fail(
                key,
                f"expected a database URL such as sqlite:///aggregator.db or "
                f"postgresql+psycopg://user@host/db, got {_redact(url)!r}",
            ) from None
        shown = parsed.render_as_string(hide_password=True)
        if parsed.drivername not in _DRIVERS:
            raise self.fail(
                key, f"expected sqlite:/// or postgresql:// (driver psycopg), got {shown!r}"
            )
        database = parsed.database
        if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
            return parsed.render_as_string(hide_password=False) if resolve else url
        if "\x00" in database:
            raise self.fail(key, f"expected a path without NUL characters, got {shown!r}")
        file = Path(os.path.normpath(self.base / database if resolve else database))
        if _is(file, Path.is_dir):
            raise self.fail(key, f"expected an SQLite file, but {file} is a directory")
        if blocked := _blocking(file.parent):
            raise self.fail(
                key, f"expected an SQLite file in a directory that exists or can be made, {blocked}"
            )
        if not resolve:
            return url
        return parsed.set(database=str(file)).render_as_string(hide_password=False)

    def feed(self, table: dict[str, Any] | None) -> FeedConfig:
        if table is None:
            raise self.fail("feed", "missing [feed] table (expected title, id, base_url)")
        feed_id = self.string(table, "id", "feed")
        if not _is_uri(feed_id):
            raise self.fail(
                "feed.id", f"expected a URI such as tag:example.org,2020:event, got {feed_id!r}"
            )
        base_url = self.string(table, "base_url", "feed").rstrip("/")
        parts = _split(base_url)
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.fail("feed.base_url", f"expected an absolute http(s) URL, got {base_url!r}")
        max_entries = table.get("max_entries", 100)
        if (
            not isinstance(max_entries, int)
            or isinstance(max_entries, bool)
            or not 1 <= max_entries <= 10_000
        ):
            raise self.fail(
                "feed.max_entries", f"expected an integer from 1 to 10000, got {_got(max_entries)}"
            )
        title = self.string(table, "title", "feed")
        return FeedConfig(
            title=title,
            id=feed_id,
            base_url=base_url,
            max_entries=max_entries,
            output_dir=self.output_dir(self.string(table, "output_dir", "feed", default="feeds")),
            author=self.string(table, "author", "feed", default=title),
            subtitle=self.optional_string(table, "subtitle", "feed"),
            archive_size=self.integer(table, "archive_size", "feed", 100, 1, 10_000),
            hub=self.hub(table),
        )

    def hub(self, table: dict[str, Any]) -> str | None:
        """A WebSub hub: an absolute http(s) URL, or nothing. Checked now, since a
        hub that can never be reached would only show as failed pings in the log."""
        if "hub" not in table:
            return None
        value = table["hub"]
        expected = "expected an absolute http(s) URL such as https://hub.example.org/"
        if not isinstance(value, str) or not value.strip():
            raise self.fail("feed.hub", f"{expected}, got {_got(value)}")
        hub = value.strip()
        parts = _split(hub)
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.fragment
            or any(c.isspace() or ord(c) < 0x20 or c in '<>"' for c in hub)
        ):
            raise self.fail("feed.hub", f"{expected}, got {hub!r}")
        try:
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise self.fail(
                "feed.hub", f"expected a port from 0 to 65535 after the host, got {hub!r}"
            ) from None
        return hub

    def output_dir(self, value: str) -> Path:
        """Checked now, not when the first feed is written: by then a collect has
        appended to the log, and the command would fail half done."""
        if "\x00" in value:
            raise self.fail(
                "feed.output_dir", f"expected a path without NUL characters, got {value!r}"
            )
        path = Path(os.path.normpath(self.base / value))
        if blocked := _blocking(path):
            raise self.fail(
                "feed.output_dir", f"expected a directory that exists or can be made, {blocked}"
            )
        return path

    def source(self, item: object, index: int, feed: FeedConfig) -> SourceConfig:
        where = f"sources[{index}]"
        table = self.table(item, where, _SOURCE_KEYS)
        name = self.string(table, "name", where)
        if not NAME_PATTERN.match(name):
            raise self.fail(
                f"{where}.name",
                "expected 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter "
                f"or digit (it names files and URLs), got {name!r}",
            )
        where = f"{where} ({name})"
        url = self.url(self.string(table, "url", where), f"{where}.url")
        fmt = table.get("format", "auto")
        if fmt not in FORMATS:
            raise self.fail(
                f"{where}.format", f"expected one of {', '.join(FORMATS)}, got {_got(fmt)}"
            )
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
        """http(s) URLs as they are; file URLs and relative paths resolved to file:///…

        Everything a poll would trip over (a port out of range, a broken IPv6
        host, a NUL in a path) is refused here: at poll time it would not be a
        recorded source failure but a crash halfway through a collect.
        """
        parts = _split(value)
        if parts is None:
            raise self.fail(key, f"expected an absolute URL, got {value!r}")
        if parts.scheme in ("http", "https"):
            if not parts.hostname:
                raise self.fail(key, f"expected an absolute URL, got {value!r}")
            try:
                parts.port  # noqa: B018 - parsing the port is the check
            except ValueError:
                raise self.fail(
                    key, f"expected a port from 0 to 65535 after the host, got {value!r}"
                ) from None
            return value
        if parts.scheme in ("", "file"):
            resolved = urljoin(self.base.as_uri() + "/", value)
            if "\x00" in unquote(urlsplit(resolved).path):
                raise self.fail(key, f"expected a path without NUL characters, got {value!r}")
            return resolved
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
                raise self.fail(f"{key}.{name}", f"expected a CSS selector, got {_got(selector)}")
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
                key, f"expected an IANA time zone name such as 'Europe/London', got {_got(value)}"
            )
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a region such as 'America' is a directory of the zone database.
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
        raise self.fail(key, f"expected a date such as 2020-09-27, got {_got(value)}")

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
            raise self.fail(key, f"expected {expected}, got {_got(value)}")
        if not _within(seconds, low, MAX_INTERVAL):
            if 0 <= seconds < MIN_INTERVAL.total_seconds() and low == MIN_INTERVAL:
                expected += " (under 10s only for file and loopback sources)"
            raise self.fail(key, f"expected {expected}, got {_got(value)}")
        return timedelta(seconds=seconds)


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
    try:
        return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    except OverflowError:  # more digits than a float holds: no duration anyone means
        return None


def _show(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _is_uri(value: str) -> bool:
    parts = _split(value)
    scheme = parts.scheme if parts else ""
    return (
        bool(scheme) and bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*$", scheme)) and " " not in value
    )


def _split(value: str) -> SplitResult | None:
    """`urlsplit`, or None where it raises (an unclosed '[' in the host)."""
    try:
        return urlsplit(value)
    except ValueError:
        return None


def _within(seconds: float, low: timedelta, high: timedelta) -> bool:
    """Compared as numbers: infinity, NaN or 10**17 seconds would not fit a timedelta."""
    return math.isfinite(seconds) and low.total_seconds() <= seconds <= high.total_seconds()


def _got(value: object) -> str:
    """A value as the config file spells it, for the "got …" of a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, date | time):  # datetime is a date
        return value.isoformat()
    return repr(value)


def _redact(url: str) -> str:
    """A URL that did not parse, with anything that looks like a password masked."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def _is(path: Path, test: Callable[[Path], bool]) -> bool:
    """A file-type test that treats an unreadable place as fine: the command meets it later."""
    try:
        return test(path)
    except OSError:
        return False


def _blocking(directory: Path) -> str | None:
    """Why `directory` could not be created: a file where it, or a parent, should be."""
    for place in (directory, *directory.parents):
        if _is(place, Path.is_dir):
            return None
        if _is(place, Path.exists) or _is(place, Path.is_symlink):
            kind = "a file" if _is(place, Path.is_file) else "not a directory"
            return f"but {place} is {kind}"
    return None
