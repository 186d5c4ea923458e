"""Trying a page before subscribing to it, and subscribing to it.

`aggregator try URL` and `aggregator add URL --name NAME` share what is here:

* the `[[sources]]` table a page gets (`render_table`), rendered by tomlkit so
  that every value, a page's title included, is escaped as TOML;
* the source the config loader makes of that table (`checked_source`), so a
  bad zone, date, name or format is refused with the loader's own words, and
  the table `try` prints is one the loader accepts;
* one fetch and extraction of that source exactly as a poll does them
  (`trial`): the same `Fetcher` (guards, size cap, timeouts, redirects), the
  same read step (`ingest.poll.read_page`) and `plan_poll`, so what is shown is what
  the first poll would record;
* appending the table to a config file (`prepare_addition`, `commit_addition`):
  the file's bytes stay as they were and the table goes after them, the new
  text is loaded with `load_settings` from a temporary file beside the config
  (relative paths then mean what they mean in the config) and only then
  renamed over it, keeping its mode and owner, and only if the config did not
  change meanwhile.

Nothing here opens the store: a trial records nothing, and `add` writes only
the config file, which a running service reads again on SIGHUP.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from aggregator.cli.opml.apply import existing_sources
from aggregator.cli.opml.plan import url_key

# The loader's reader, used on a config held in memory: `try` writes no file.
from aggregator.config import Settings, SourceConfig, settings_from
from aggregator.config.append import append_checked
from aggregator.core.errors import AggregatorError, ConfigError, ExtractError, FetchError
from aggregator.core.events import EntryAdded, SourcePolled
from aggregator.core.model import Format, Page
from aggregator.ingest.extract import detect_format
from aggregator.ingest.fetch import Fetcher
from aggregator.ingest.plan import plan_poll
from aggregator.ingest.poll import read_page

DEFAULT_ZONE = "UTC"
ZONE_NOTE = (
    f"no --timezone given, so {DEFAULT_ZONE} was assumed: pass --timezone ZONE (an IANA name "
    "such as Europe/London) for the zone the page's times are written in"
)
# A config of nothing but one source, for the loader to check a table with.
_SCRATCH = (
    '[storage]\nurl = "sqlite://"\n\n'
    '[feed]\ntitle = "try"\nid = "tag:aggregator.invalid,try"\n'
    'base_url = "http://127.0.0.1"\noutput_dir = "."\n\n'
)
# Host labels and path segments that say nothing about which blog it is.
_NOISE_LABELS = frozenset({"www", "m", "amp", "mobile", "edition", "live"})
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu"})
_NOISE_SEGMENTS = frozenset({"index", "live", "liveblog", "live-blog", "news", "amp", "en"})


@dataclass(frozen=True, slots=True)
class Wanted:
    """A source as the command line describes it; the config loader checks each value."""

    url: str
    name: str
    format: str = "auto"
    timezone: str | None = None
    date: str | None = None
    title: str | None = None
    interval: str | None = None

    @property
    def zone_assumed(self) -> bool:
        return self.timezone is None


@dataclass(frozen=True, slots=True)
class Trial:
    """One fetch and extraction of a source, as its first poll would do them.

    `events` are the entries that poll would record, oldest first (duplicate
    keys already dropped, as a poll drops them); `notes` the page's notes as
    the poll would record them. `failure` is the fetch or extraction error
    when there was one; `format` the format the page was read as.
    """

    source: SourceConfig
    format: Format
    page: Page | None = None
    events: tuple[EntryAdded, ...] = ()
    notes: tuple[str, ...] = ()
    failure: AggregatorError | None = None

    @property
    def found(self) -> bool:
        return bool(self.events)

    def reason(self) -> str:
        """Why nothing was found, on one line (the extractor's words, without the
        source name it prefixes them with)."""
        if isinstance(self.failure, FetchError):
            text = str(self.failure)
        elif self.failure is not None:
            text = "no updates found: " + str(self.failure).removeprefix(f"{self.source.name}: ")
        else:
            text = f"no updates found: the page, read as {self.format}, holds no entries"
        return " ".join(text.split())


def resolve_url(value: str, base: Path) -> str:
    """An http(s) URL as it is; a file URL or a path (read against `base`, as the
    shell meant it) as an absolute file URL; anything else as given, for the
    loader to refuse."""
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return value
    if scheme == "":
        return Path(os.path.normpath(base.absolute() / value)).as_uri()
    if scheme == "file":
        return urljoin(base.absolute().as_uri() + "/", value)
    return value


def suggest_name(url: str) -> str:
    """A source name from a URL: the site's name, then the page's last telling path
    segment (`https://www.aljazeera.com/news/2020/9/27/clashes-live` gives
    `aljazeera-clashes-live`; a file gives its name without the extension)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "source"
    words: list[str] = []
    if parts.scheme in ("http", "https") and host and not _is_address(host):
        labels = [label for label in host.split(".") if label]
        while len(labels) > 1 and labels[0] in _NOISE_LABELS:
            labels.pop(0)
        if len(labels) > 1:
            labels.pop()  # the top-level domain
        if len(labels) > 1 and labels[-1] in _SECOND_LEVEL:
            labels.pop()  # .co.uk, .com.au
        words.append(labels[-1] if labels else host)
    segments = [segment for segment in unquote(parts.path).split("/") if segment]
    if segments:
        segments[-1] = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", segments[-1])
    telling = [
        segment
        for segment in segments
        if re.search("[A-Za-z]", segment) and _slug(segment) not in _NOISE_SEGMENTS
    ]
    if telling:
        words.append(telling[-1])
    name = _slug("-".join(words))[:64].strip("-_")
    return name or "source"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    return True


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")


def render_table(
    wanted: Wanted, fmt: str | None = None, title: str | None = None, comment: str | None = None
) -> str:
    """The `[[sources]]` table for `wanted`, `fmt` and `title` overriding its own.

    The zone is always written (the default one too, so that the file says
    what was assumed); a date that is a plain date is written as a TOML date
    and anything else as the string given, which the loader reads the same
    way; an interval that is a whole number of seconds is written as a number.
    """
    import tomlkit  # here, not at start-up: only `try` and `add` render TOML

    table = tomlkit.table()
    table.add("name", wanted.name)
    if title := title or wanted.title:
        table.add("title", " ".join(title.split()))
    table.add("url", wanted.url)
    table.add("format", fmt or wanted.format)
    if wanted.interval is not None:
        interval = wanted.interval.strip()
        seconds = interval.isascii() and interval.isdigit()
        table.add("interval", int(interval) if seconds else interval)
    zone = tomlkit.item(wanted.timezone or DEFAULT_ZONE)
    if wanted.zone_assumed:
        zone.comment("assumed: no --timezone was given")
    table.add("timezone", zone)
    if wanted.date is not None:
        table.add("date", _date_value(wanted.date))
    sources = tomlkit.aot()
    sources.append(table)
    document = tomlkit.document()
    document.add("sources", sources)
    # A comment of our own words (never a page's), right above the table.
    above = f"# {' '.join(comment.split())}\n" if comment else ""
    return above + tomlkit.dumps(document)


def _date_value(value: str) -> date | str:
    if "T" in value or " " in value:
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        return value


def checked_source(table: str, where: str) -> SourceConfig:
    """The source the config loader makes of `table`, checked in a config of
    nothing else, held in memory: nothing is read or written. A value the
    loader refuses raises its `ConfigError`, located at `where`."""
    raw = tomllib.loads(_SCRATCH + table)
    return settings_from(raw, Path(where), environ={}).sources[0]


async def trial(source: SourceConfig, fetcher: Fetcher | None = None) -> Trial:
    """Fetch and read `source` once, as a poll would, and record nothing."""
    active = fetcher or Fetcher()
    try:
        fetched = await active.fetch(source.url)
    except FetchError as exc:
        return Trial(source, source.format, failure=exc)
    finally:
        if fetcher is None:
            await active.aclose()
    fmt = (
        detect_format(fetched.body, fetched.content_type)
        if source.format == "auto"
        else source.format
    )
    try:
        page = read_page(source, fetched, fmt)
    except ExtractError as exc:
        return Trial(source, fmt, failure=exc)
    # A trial reads no store: it knows no entry, so no id is taken yet.
    events = plan_poll(source, page, {}, fetched, poll_id="try", owners={})
    polled = events[-1]
    assert isinstance(polled, SourcePolled)
    added = tuple(event for event in events if isinstance(event, EntryAdded))
    return Trial(source, fmt, page, added, polled.notes)


@dataclass(frozen=True, slots=True)
class Addition:
    """A source checked against a config it is not in yet: the config's bytes as
    they were read, and the source as the loader makes it in that config."""

    config: Path
    before: bytes
    source: SourceConfig


def prepare_addition(config: Path, wanted: Wanted) -> Addition:
    """Check that `wanted` may join `config`, before anything is fetched: a new name,
    a new URL (compared as the loader resolves them, scheme and host in lower
    case, default port dropped), and a file the loader accepts with it."""
    before, existing = existing_sources(config)
    for index, table in enumerate(existing):
        if table.get("name") == wanted.name:
            raise ConfigError(
                str(config),
                "sources",
                f"a source named {wanted.name!r} is already configured (sources[{index}]); "
                "nothing was written (expected a new --name)",
            )
    _check_appendable(config, before)
    settings = _write_checked(config, before, render_table(wanted), False)
    new = settings.sources[-1]
    for index, other in enumerate(settings.sources[:-1]):
        if url_key(other.url) == url_key(new.url):
            raise ConfigError(
                str(config),
                "sources",
                f"{new.url} is already configured, as source {other.name!r} "
                f"(sources[{index}]); nothing was written",
            )
    return Addition(config, before, new)


def commit_addition(addition: Addition, table: str) -> SourceConfig:
    """Append `table` to the config, atomically, if the config still holds the
    bytes it was checked with and loads with the table; the source it gives."""
    return _write_checked(addition.config, addition.before, table, True).sources[-1]


def _check_appendable(config: Path, before: bytes) -> None:
    """`sources = [...]`, an inline array, cannot take a `[[sources]]` table after it."""
    import tomlkit
    import tomlkit.exceptions
    import tomlkit.items

    try:
        document = tomlkit.parse(before.decode("utf-8"))
    except (UnicodeDecodeError, tomlkit.exceptions.TOMLKitError):
        return  # the loader says what is wrong with the file
    if isinstance(document.get("sources"), tomlkit.items.Array):
        raise ConfigError(
            str(config),
            "sources",
            "an inline array, which a [[sources]] table cannot be appended to (expected "
            "[[sources]] tables); nothing was written",
        )


def _write_checked(config: Path, before: bytes, table: str, commit: bool) -> Settings:
    """The config with `table` appended after a blank line, checked by the loader and,
    when `commit`, written (`config_append`); a refusal says nothing was written."""
    try:
        return append_checked(config, before, "\n" + table, commit=commit)
    except ConfigError as exc:
        raise ConfigError(str(config), exc.key, f"{exc.problem}; nothing was written") from None
