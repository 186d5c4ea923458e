"""Config loading: typed values, relative paths, and errors naming file and key."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from aggregator.config import load_settings, parse_duration
from aggregator.core.errors import ConfigError

BASE = """
[feed]
title = "T"
id = "tag:example.org,2020:t"
base_url = "http://127.0.0.1:8080/"

[[sources]]
name = "one"
url = "pages/one.txt"
"""


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> object:
    path = tmp_path / "sub" / "agg.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ=environ or {})


def error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(str(tmp_path / "sub" / "agg.toml"))
    return info.value


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    settings = load(tmp_path, BASE)
    source = settings.sources[0]  # type: ignore[attr-defined]
    assert source.url == (tmp_path / "sub" / "pages" / "one.txt").as_uri()
    assert source.link == source.url and source.format == "auto"
    assert source.interval == timedelta(minutes=5) and str(source.timezone) == "UTC"
    assert source.id == "tag:example.org,2020:t/one"
    feed = settings.feed  # type: ignore[attr-defined]
    assert feed.base_url == "http://127.0.0.1:8080" and feed.max_entries == 100
    assert feed.output_dir == tmp_path / "sub" / "feeds"
    assert settings.database_url == f"sqlite:///{tmp_path / 'sub' / 'aggregator.db'}"  # type: ignore[attr-defined]


def test_environment_overrides_database(tmp_path: Path) -> None:
    url = "postgresql+psycopg://u@db/x"
    settings = load(tmp_path, BASE, {"AGGREGATOR_DATABASE_URL": url})
    assert settings.database_url == url  # type: ignore[attr-defined]


# URLs the store (`make_url`) reads, refuses or reads differently from a
# plain URL parser: `{tmp}` is an absolute directory.
DATABASE_URLS = [
    "sqlite:///agg.db",
    "sqlite:///two words/a%20b.db?mode=rwc",
    "sqlite+pysqlite:///{tmp}/abs.db",
    "sqlite://",
    "sqlite:///:memory:",
    "postgresql://u:p%40ss/w@db:5432/feeds?sslmode=require",
    "postgresql+psycopg://u@[::1]:5432/feeds",
    "postgresql://u:pw@db:port/feeds",
    "postgresql://db:/feeds",
    "postgresql+psycopg2://u:pw@db/feeds",
    "mysql://u:pw@h/db",
    "sqlite:/agg.db",
    "not a url",
]


@pytest.mark.parametrize("url", DATABASE_URLS)
def test_the_database_url_is_read_as_the_store_reads_it(tmp_path: Path, url: str) -> None:
    """The config checks the URL without importing SQLAlchemy; it must agree
    with `make_url`, which the store opens it with, on what the URL says."""
    url = url.format(tmp=tmp_path)
    text = BASE + f'\n[storage]\nurl = "{url}"\n'
    try:
        wanted = make_url(url)
    except (ArgumentError, ValueError):
        assert error(tmp_path, text).problem.startswith("expected a database URL")
        return
    if wanted.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"):
        shown = wanted.render_as_string(hide_password=True)
        assert error(tmp_path, text).problem.endswith(f"got {shown!r}")
        return
    got = make_url(load(tmp_path, text).database_url)  # type: ignore[attr-defined]
    if wanted.get_backend_name() == "sqlite" and wanted.database not in (None, "", ":memory:"):
        wanted = wanted.set(database=str(tmp_path / "sub" / wanted.database))
    assert got == wanted


def test_date_or_start_time(tmp_path: Path) -> None:
    text = BASE + 'timezone = "America/New_York"\ndate = 2020-09-27T10:00:00\n'
    source = load(tmp_path, text).sources[0]  # type: ignore[attr-defined]
    assert source.day == date(2020, 9, 27)
    assert source.start.astimezone(UTC) == datetime(2020, 9, 27, 14, tzinfo=UTC)


def test_selectors_are_checked(tmp_path: Path) -> None:
    ok = load(tmp_path, BASE + '[sources.selectors]\nupdate = "div.update"\ntime = "time"\n')
    assert ok.sources[0].selectors == {"update": "div.update", "time": "time"}  # type: ignore[attr-defined]
    missing = error(tmp_path, BASE + '[sources.selectors]\ntime = "time"\n')
    assert missing.key == "sources[0] (one).selectors.update"
    bad = error(tmp_path, BASE + '[sources.selectors]\nupdate = "div[[["\n')
    assert (
        bad.key == "sources[0] (one).selectors.update" and "not a valid CSS selector" in bad.problem
    )
    unknown = error(tmp_path, BASE + '[sources.selectors]\nupdate = "div"\nheadline = "h2"\n')
    assert unknown.key == "sources[0] (one).selectors.headline"


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        ('format = "pdf"', "sources[0] (one).format", "expected one of auto, feed"),
        ('url2 = "x"', "sources[0].url2", "unknown key"),
        ("interval = 0.5", "sources[0] (one).interval", "from 1s to 7 days"),
        ('interval = "1y"', "sources[0] (one).interval", "expected a duration"),
        ('timezone = "Mars/Olympus"', "sources[0] (one).timezone", "unknown time zone"),
        ('date = "yesterday"', "sources[0] (one).date", "expected a date"),
        ('url = "ftp://x/y"', "sources[0] (one).url", "expected an http(s) URL"),
    ],
)
def test_source_errors(tmp_path: Path, extra: str, key: str, problem: str) -> None:
    text = BASE.replace('url = "pages/one.txt"\n', "") + (
        extra + "\n" if extra.startswith("url") else 'url = "pages/one.txt"\n' + extra + "\n"
    )
    err = error(tmp_path, text)
    assert err.key == key and problem in err.problem


def test_fast_polling_only_for_files_and_loopback(tmp_path: Path) -> None:
    text = BASE.replace('url = "pages/one.txt"\n', "") + 'interval = "2s"\n'
    assert load(tmp_path, text + 'url = "pages/one.txt"\n').sources[0].interval.seconds == 2  # type: ignore[attr-defined]
    local = load(tmp_path, text + 'url = "http://127.0.0.1:8765/one"\n')
    assert local.sources[0].interval.seconds == 2  # type: ignore[attr-defined]
    remote = error(tmp_path, text + 'url = "https://example.org/live"\n')
    assert remote.key == "sources[0] (one).interval"
    assert "from 10s to 7 days (under 10s only for file and loopback sources)" in remote.problem


def test_service_table(tmp_path: Path) -> None:
    default = load(tmp_path, BASE).service  # type: ignore[attr-defined]
    assert (default.host, default.port, default.per_host) == ("127.0.0.1", 8080, 2)
    custom = load(
        tmp_path, '[service]\nport = 9000\nmax_backoff = "30m"\njitter = "0s"\n' + BASE
    ).service  # type: ignore[attr-defined]
    assert custom.port == 9000 and custom.max_backoff == timedelta(minutes=30)
    assert custom.jitter == timedelta(0)
    for bad, key, problem in [
        ("port = 70000", "service.port", "expected an integer from 0 to 65535"),
        ('port = "80"', "service.port", "expected an integer"),
        ('max_backoff = "0s"', "service.max_backoff", "from 1s to 7d"),
        ('jitter = "soon"', "service.jitter", "expected a duration"),
        ("threads = 4", "service.threads", "unknown key"),
    ]:
        err = error(tmp_path, f"[service]\n{bad}\n" + BASE)
        assert err.key == key and problem in err.problem, (bad, err)


def test_duplicate_names_and_bad_feed(tmp_path: Path) -> None:
    assert error(tmp_path, BASE + BASE[BASE.index("[[sources]]") :]).key == "sources[1].name"
    assert (
        error(tmp_path, BASE.replace('name = "one"', 'name = "One Two"')).key == "sources[0].name"
    )
    assert error(tmp_path, BASE.replace("http://127.0.0.1:8080/", "/feeds")).key == "feed.base_url"
    assert error(tmp_path, BASE.replace("tag:example.org,2020:t", "not a uri")).key == "feed.id"
    empty = error(tmp_path, "[feed]\n")
    assert empty.key == "feed.id" and "missing" in empty.problem


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400 and parse_duration("90s") == 90
    assert parse_duration(600) == 600
    assert (
        parse_duration("soon") is None
        and parse_duration(True) is None
        and parse_duration("") is None
    )
