"""What a config value may be: each kind reads one from TOML or says what was expected.

Everything a command would trip over later (a port out of range, a broken
IPv6 host, a NUL in a path, a directory where the SQLite file should be) is
refused here, while the person who wrote it is looking at the file: later it
would be a crash halfway through a collect.
"""

from __future__ import annotations

import math
import os
import re
from abc import abstractmethod
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import cast, get_args
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cssselect import GenericTranslator, SelectorError

from aggregator.config.keys import Kind, Place, Section, T_co, got
from aggregator.core.model import Format, is_absolute_iri

MIN_INTERVAL = timedelta(seconds=10)
MIN_LOCAL_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(days=7)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FORMATS: tuple[str, ...] = get_args(Format)
_NON_EMPTY = "a non-empty string"
# What the store can open: make_engine uses psycopg for a bare postgresql://.
_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"})
# SQLAlchemy's own URL grammar (`sqlalchemy.engine.url._parse_url`), read here
# without importing SQLAlchemy, which made importing the config take 175 ms
# instead of 45 (`python -X importtime`, best of 10): every command loads the
# config, `aggregator --help` and `sources` too. The store parses the same text
# with `make_url`; tests/test_config.py checks that the two read URLs alike.
_DATABASE_URL = re.compile(
    r"""
    (?P<driver>[\w+]+)://
    (?:[^:/]*(?::(?P<password>[^@]*))?@)?
    (?:(?:\[[^/?]+\]|[^/:?]+)?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?.*)?
    """,
    re.X,
)


class FromText(Kind[T_co]):
    """A non-empty string, stripped, then made into the value by `refine`."""

    @property
    def missing(self) -> str:
        return "a string"

    def read(self, value: object, at: Place) -> T_co:
        if not isinstance(value, str) or not value.strip():
            raise at.fail(f"expected {_NON_EMPTY}, got {got(value)}")
        return self.refine(value.strip(), at)

    @abstractmethod
    def refine(self, text: str, at: Place) -> T_co:
        """The value `text` stands for, or `at.fail(...)` saying what was expected."""


class Text(FromText[str]):
    expected = _NON_EMPTY

    def refine(self, text: str, at: Place) -> str:
        return text


TEXT = Text()


class Integer(Kind[int]):
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.expected = f"an integer from {low} to {high}"

    def read(self, value: object, at: Place) -> int:
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not self.low <= value <= self.high
        ):
            raise at.fail(f"expected {self.expected}, got {got(value)}")
        return value


class Duration(Kind[timedelta]):
    def __init__(self, low: timedelta, high: timedelta) -> None:
        self.low, self.high = low, high
        span = f"from {show_duration(low)} to {show_duration(high)}"
        self.expected = f"a duration such as '30s' or '5m', {span}"

    def read(self, value: object, at: Place) -> timedelta:
        seconds = parse_duration(value)
        if seconds is None or not _within(seconds, self.low, self.high):
            raise at.fail(f"expected {self.expected}, got {got(value)}")
        return timedelta(seconds=seconds)


class Interval(Kind[timedelta]):
    """How often a source is polled: more often than every 10s only for files
    and this machine (the source's `url`, read before, says which)."""

    duration = "a duration such as '90s', '5m', '1h30m' or a number of seconds"
    expected = f"{duration}, from 10s to 7 days (from 1s for file and loopback sources)"

    def read(self, value: object, at: Place) -> timedelta:
        parts = urlsplit(at.find("url", str) or "")  # no URL: reading the declared default
        local = parts.scheme == "file" or parts.hostname in LOOPBACK_HOSTS
        low = MIN_LOCAL_INTERVAL if local else MIN_INTERVAL
        seconds = parse_duration(value)
        expected = f"{self.duration}, from {show_duration(low)} to 7 days"
        if seconds is None:
            raise at.fail(f"expected {expected}, got {got(value)}")
        if not _within(seconds, low, MAX_INTERVAL):
            if 0 <= seconds < MIN_INTERVAL.total_seconds() and low == MIN_INTERVAL:
                expected += " (under 10s only for file and loopback sources)"
            raise at.fail(f"expected {expected}, got {got(value)}")
        return timedelta(seconds=seconds)


class FormatName(Kind[Format]):
    expected = f"one of {', '.join(FORMATS)}"

    def read(self, value: object, at: Place) -> Format:
        if value not in FORMATS:
            raise at.fail(f"expected {self.expected}, got {got(value)}")
        return cast(Format, value)


class TimeZone(Kind[ZoneInfo]):
    expected = "an IANA time zone name such as 'Europe/London'"

    def read(self, value: object, at: Place) -> ZoneInfo:
        if not isinstance(value, str):
            raise at.fail(f"expected {self.expected}, got {got(value)}")
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            # OSError: a region such as 'America' is a directory of the zone database.
            raise at.fail(
                f"unknown time zone {value!r} (expected an IANA name such as 'America/New_York')"
            ) from None


class FirstDay(Kind[date]):
    """`date`: the live blog's first day, or its start as a date-time (naive
    means the source's `timezone`, read before), whose day in that zone it is."""

    expected = "a date such as 2020-09-27 or a date-time"

    def read(self, value: object, at: Place) -> date:
        when = _date_or_start(value, self.expected, at)
        if isinstance(when, datetime):
            return when.astimezone(_zone(at)).date()
        return when


class StartTime(Kind[datetime | None]):
    """`date` read for the start it gives, when it is a date-time."""

    expected = FirstDay.expected

    def read(self, value: object, at: Place) -> datetime | None:
        when = _date_or_start(value, self.expected, at)
        return when if isinstance(when, datetime) else None


def _date_or_start(value: object, expected: str, at: Place) -> date:
    """A plain date, or an aware datetime (a naive one is in the source's zone)."""
    if isinstance(value, str):
        try:
            value = (
                datetime.fromisoformat(value)
                if "T" in value or " " in value
                else date.fromisoformat(value)
            )
        except ValueError:
            raise at.fail(f"expected {expected}, got {value!r}") from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=_zone(at))
    if isinstance(value, date):
        return value
    raise at.fail(f"expected a date such as 2020-09-27, got {got(value)}")


def _zone(at: Place) -> ZoneInfo:
    """The source's `timezone`, declared before `date`."""
    return at.earlier("timezone", ZoneInfo)


class Selectors(Kind[dict[str, str]]):
    """CSS selectors for HTML pages without JSON-LD, in the order the file gives
    them; the table's keys are declared like any other table's."""

    def __init__(self, table: Section) -> None:
        self.table = table
        self.expected = f"a table of CSS selectors (see `{table.heading}`)"

    @property
    def tables(self) -> tuple[Section, ...]:
        return (self.table,)

    def read(self, value: object, at: Place) -> dict[str, str]:
        table = at.checked_table(value, self.table.names)
        for spec in self.table.keys:
            if spec.required and spec.name not in table:
                raise spec.missing_error(at.key(spec.name))
        by_name = {spec.name: spec for spec in self.table.keys}
        return {name: cast(str, by_name[name].read(table, at.key(name))) for name in table}


class CssSelector(Kind[str]):
    """A selector that compiles: a typo is a config error naming the key."""

    expected = "a CSS selector"

    def __init__(self, missing: str = "a CSS selector") -> None:
        self._missing = missing

    @property
    def missing(self) -> str:
        return self._missing

    def read(self, value: object, at: Place) -> str:
        if not isinstance(value, str) or not value.strip():
            raise at.fail(f"expected {self.expected}, got {got(value)}")
        try:
            GenericTranslator().css_to_xpath(value)
        except SelectorError as exc:
            raise at.fail(f"not a valid CSS selector ({exc}): {value!r}") from None
        return value.strip()


CSS = CssSelector()


class Hub(Kind[str]):
    """A WebSub hub. Checked now, since a hub that can never be reached would
    only show as failed pings in the log."""

    expected = "an absolute http(s) URL such as https://hub.example.org/"

    def read(self, value: object, at: Place) -> str:
        if not isinstance(value, str) or not value.strip():
            raise at.fail(f"expected {self.expected}, got {got(value)}")
        hub = value.strip()
        parts = _split(hub)
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.fragment
            or any(c.isspace() or ord(c) < 0x20 or c in '<>"' for c in hub)
        ):
            raise at.fail(f"expected {self.expected}, got {hub!r}")
        _check_port(parts, hub, at)
        return hub


class OutputDir(FromText[Path]):
    """Checked now, not when the first feed is written: by then a collect has
    appended to the log, and the command would fail half done."""

    expected = "a directory that exists or can be made"

    def refine(self, text: str, at: Place) -> Path:
        if "\x00" in text:
            raise at.fail(f"expected a path without NUL characters, got {text!r}")
        path = Path(os.path.normpath(at.base / text))
        if blocked := _blocking(path):
            raise at.fail(f"expected {self.expected}, {blocked}")
        return path


class DatabaseUrl(FromText[str]):
    """A database URL the store can open: a known backend and driver, and for
    SQLite a file whose directory exists or can be made.

    Messages show the URL with its password masked: they end up in terminals,
    CI logs and bug reports. A relative SQLite path in the file is relative to
    the file; one from the environment stays as given (`resolve=False`).
    """

    expected = "a database URL such as sqlite:///aggregator.db or postgresql+psycopg://user@host/db"

    def refine(self, text: str, at: Place) -> str:
        return self.check(text, at, resolve=True)

    def check(self, url: str, at: Place, *, resolve: bool) -> str:
        parsed = _DATABASE_URL.match(url)
        if parsed is None or not _is_port(parsed["port"]):
            raise at.fail(f"expected {self.expected}, got {_redact(url)!r}")
        shown = _replaced(parsed, "password", "***")
        if parsed["driver"] not in _DRIVERS:
            raise at.fail(f"expected sqlite:/// or postgresql:// (driver psycopg), got {shown!r}")
        database = unquote(parsed["database"] or "")
        if parsed["driver"].partition("+")[0] != "sqlite" or database in ("", ":memory:"):
            return url
        if "\x00" in database:
            raise at.fail(f"expected a path without NUL characters, got {shown!r}")
        file = Path(os.path.normpath(at.base / database if resolve else database))
        if _is(file, Path.is_dir):
            raise at.fail(f"expected an SQLite file, but {file} is a directory")
        if blocked := _blocking(file.parent):
            raise at.fail(
                f"expected an SQLite file in a directory that exists or can be made, {blocked}"
            )
        if not resolve:
            return url
        return _replaced(parsed, "database", quote(str(file), safe=" +/"))


def _is_port(text: str | None) -> bool:
    """No port, or one SQLAlchemy reads: it calls `int`, as here."""
    if text is None:
        return True
    try:
        int(text)
    except ValueError:
        return False
    return True


def _replaced(parsed: re.Match[str], group: str, value: str) -> str:
    """The URL with one part of it (when it has that part) replaced by `value`."""
    if parsed[group] is None:
        return parsed.string
    return parsed.string[: parsed.start(group)] + value + parsed.string[parsed.end(group) :]


class Uri(FromText[str]):
    """An absolute IRI (a feed or source id): the rule an entry id given by a
    source must meet too, since a source's id begins the ids of its entries."""

    def __init__(self, expected: str) -> None:
        self.expected = expected

    def refine(self, text: str, at: Place) -> str:
        if not is_absolute_iri(text):
            raise at.fail(f"expected {self.expected}, got {text!r}")
        return text


class BaseUrl(FromText[str]):
    """Where the feeds are served, without a trailing slash: self links append to it."""

    expected = "an absolute http(s) URL"

    def refine(self, text: str, at: Place) -> str:
        base_url = text.rstrip("/")
        parts = _split(base_url)
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise at.fail(f"expected {self.expected}, got {base_url!r}")
        return base_url


class Name(FromText[str]):
    expected = (
        "1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit "
        "(it names files and URLs)"
    )

    def refine(self, text: str, at: Place) -> str:
        if not NAME_PATTERN.match(text):
            raise at.fail(f"expected {self.expected}, got {text!r}")
        return text


class SourceUrl(FromText[str]):
    """http(s) URLs as they are; file URLs and relative paths resolved to file:///…"""

    expected = "an http(s) URL, a file URL or a path"

    def refine(self, text: str, at: Place) -> str:
        parts = _split(text)
        if parts is None:
            raise at.fail(f"expected an absolute URL, got {text!r}")
        if parts.scheme in ("http", "https"):
            if not parts.hostname:
                raise at.fail(f"expected an absolute URL, got {text!r}")
            _check_port(parts, text, at)
            return text
        if parts.scheme in ("", "file"):
            resolved = urljoin(at.base.as_uri() + "/", text)
            if "\x00" in unquote(urlsplit(resolved).path):
                raise at.fail(f"expected a path without NUL characters, got {text!r}")
            return resolved
        raise at.fail(f"expected {self.expected}, got {text!r}")


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


def _check_port(parts: SplitResult, value: str, at: Place) -> None:
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise at.fail(f"expected a port from 0 to 65535 after the host, got {value!r}") from None


def show_duration(value: timedelta) -> str:
    """A duration as the config writes it: "10m", "1h", "90s"."""
    if timedelta(0) < value < timedelta(seconds=1):
        return f"{value.total_seconds():g}s"
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _split(value: str) -> SplitResult | None:
    """`urlsplit`, or None where it raises (an unclosed '[' in the host)."""
    try:
        return urlsplit(value)
    except ValueError:
        return None


def _within(seconds: float, low: timedelta, high: timedelta) -> bool:
    """Compared as numbers: infinity, NaN or 10**17 seconds would not fit a timedelta."""
    return math.isfinite(seconds) and low.total_seconds() <= seconds <= high.total_seconds()


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
