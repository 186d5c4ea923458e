"""`aggregator try` and `aggregator add`, as the installed command, on real files
and pages served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from aggregator.config import load_settings
from tests.conftest import Project
from tests.http_fixture import Route, serve
from tests.service_process import clean_env, get, start_run, wait_for
from tests.support import AJ_SEED, DK_SEED, REPO, SEEDS

AGGREGATOR = Path(sys.executable).with_name("aggregator")  # the venv's entry point
HTML = REPO / "tests" / "fixtures" / "html"
HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}
QUIET = b"<!DOCTYPE html><html><head><title>Soon</title></head><body><p>Soon.</p></body></html>"
EMPTY = httpx.Response(404)


def blog(*updates: tuple[str, str]) -> bytes:
    """A page whose JSON-LD LiveBlogPosting lists `updates` (published, headline)."""
    posting = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "headline": "Reload check: live",
        "liveBlogUpdate": [
            {
                "@type": "BlogPosting",
                "@id": f"https://example.org/reload#u{i}",
                "headline": headline,
                "datePublished": published,
                "articleBody": f"{headline}, in full.",
            }
            for i, (published, headline) in enumerate(updates)
        ],
    }
    script = json.dumps(posting)
    return (
        f'<!DOCTYPE html><html><head><script type="application/ld+json">{script}</script>'
        "</head><body><h1>Reload check: live</h1></body></html>"
    ).encode()


def page(body: bytes) -> Route:
    return lambda _: (200, HTML_TYPE, body)


@pytest.fixture
def site() -> Iterator[str]:
    """A JSON-LD live page, a page without updates and a fresh blog, on 127.0.0.1."""
    pages = {
        "/live/aljazeera": (HTML / "aljazeera-jsonld.html").read_bytes(),
        "/live/quiet": QUIET,
        "/live/reload": blog(
            ("2020-09-27T21:00:00Z", "Reload check: first update"),
            ("2020-09-27T21:05:00Z", "Reload check: second update"),
        ),
    }
    with serve({path: page(body) for path, body in pages.items()}) as base:
        yield base


def aggregator(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed `aggregator` command, run to completion."""
    return subprocess.run(
        [str(AGGREGATOR), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean_env(), **(env or {})},
        timeout=60,
    )


def table_of(output: str) -> str:
    """The `[[sources]]` table `try` ends with, from its comment line on."""
    start = output.index("\n# For the config file")
    return output[start + 1 :]


def pasted(table: str, directory: Path) -> Path:
    """A config of a [feed] table and `table`, as a person would paste it."""
    config = directory / "pasted.toml"
    config.write_text(
        '[feed]\ntitle = "Pasted"\nid = "tag:example.org,2020:pasted"\n'
        'base_url = "http://127.0.0.1:8080"\n\n' + table,
        encoding="utf-8",
    )
    return config


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- try ---------------------------------------------------------------------------------


def test_try_a_json_ld_page_shows_the_reading_every_update_and_a_table(
    site: str, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    database = tmp_path / "db" / "agg.db"
    result = aggregator(
        "try",
        f"{site}/live/aljazeera",
        "--timezone",
        "UTC",  # the page's "GMT" means UTC (London kept BST that day)
        "--date",
        "2020-09-27",
        cwd=work,
        env={
            "AGGREGATOR_DATABASE_URL": f"sqlite:///{database}",
            "AGGREGATOR_CONFIG": str(tmp_path / "none.toml"),
        },
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "strategy: json-ld (format liveblog-html)\n" in out
    assert "page title: Armenia-Azerbaijan clashes: Live news\n" in out
    expected = json.loads((HTML / "aljazeera-jsonld.expected.json").read_text(encoding="utf-8"))
    entries = expected["entries"]
    assert f"\n{len(entries)} updates it would record, oldest first" in out
    for entry in entries:
        published = datetime.fromisoformat(entry["published"].replace("Z", "+00:00"))
        utc = published.strftime("%Y-%m-%d %H:%M:%SZ")
        local = published.strftime("%Y-%m-%d %H:%M UTC")
        assert f"  {utc}  {local}  {entry['title']}\n" in out
        assert f"      {site}/live/aljazeera#update-{entry['key']}\n" in out
    # No zone was assumed, so no note says so.
    assert "assumed" not in out

    config = pasted(table_of(out), tmp_path)
    (source,) = load_settings(config, environ={}).sources
    assert source.name == "aljazeera"
    assert source.url == f"{site}/live/aljazeera"
    assert source.format == "liveblog-html"
    assert source.timezone.key == "UTC"
    assert source.day == date(2020, 9, 27)
    assert source.title == "Armenia-Azerbaijan clashes: Live news"

    # It wrote nothing and made no database, though one was named.
    assert list(work.iterdir()) == []
    assert not database.parent.exists()


def test_try_a_seed_file_reads_its_text_and_says_the_zone_was_assumed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    url = (SEEDS / AJ_SEED).as_uri()
    result = aggregator("try", url, cwd=work)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"{url}\nstrategy: text (format liveblog-text)\n")
    assert "timezone: UTC (assumed)\n" in out
    assert "\n40 updates it would record, oldest first (UTC, then local time in UTC):\n" in out
    assert (
        "  2020-09-27 08:39:00Z  2020-09-27 08:39 UTC  "
        "Pashinyan: ‘Get ready to defend our sacred homeland’\n"
        f"      {url}#update-20200927T083900Z-0\n"
    ) in out
    notes = out[out.index("\nnotes:\n") :]
    assert "pass --timezone ZONE" in notes

    table = table_of(out)
    assert 'timezone = "UTC" # assumed: no --timezone was given\n' in table
    (source,) = load_settings(pasted(table, tmp_path), environ={}).sources
    assert source.name == "aljazeera-armenia-azerbaijan-2020-09-27"
    assert (source.url, source.format, source.timezone.key) == (url, "liveblog-text", "UTC")
    assert source.title == "Armenia-Azerbaijan clashes: Live news"
    assert list(work.iterdir()) == []


def test_try_takes_a_path_as_the_shell_meant_it_and_shows_entry_notes(tmp_path: Path) -> None:
    shutil.copy(SEEDS / DK_SEED, tmp_path / DK_SEED)
    result = aggregator("try", DK_SEED, "--timezone", "America/New_York", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    # "2:52pm EST" on a day New York kept EDT: the zone decides, and a note says so.
    assert "  2020-09-27 18:52:00Z  2020-09-27 14:52 EDT  " in out
    assert "      note: label 'EST' contradicts America/New_York" in out
    assert "      note: the page gives no time for the lead and no date" in out
    assert f'url = "{(tmp_path / DK_SEED).as_uri()}"\n' in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [DK_SEED]


def test_try_a_page_without_updates_exits_1_with_one_line(site: str) -> None:
    result = aggregator("try", f"{site}/live/quiet", "--timezone", "UTC")

    assert result.returncode == 1
    assert result.stdout == ""
    line = one_line(result)
    assert line.startswith("aggregator: no updates found: ")
    assert "no JSON-LD live blog" in line


def test_try_a_page_that_cannot_be_fetched_exits_1_with_one_line(site: str) -> None:
    result = aggregator("try", f"{site}/live/gone")

    assert result.returncode == 1
    assert result.stdout == ""
    assert one_line(result) == f"aggregator: {site}/live/gone answered HTTP 404 Not Found"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--timezone", "Mars/Olympus", "--timezone: unknown time zone 'Mars/Olympus'"),
        ("--date", "2020-02-30", "--date: expected a date such as 2020-09-27"),
    ],
)
def test_try_refuses_a_bad_option_with_one_line(
    option: str, value: str, message: str, tmp_path: Path
) -> None:
    result = aggregator("try", str(SEEDS / AJ_SEED), option, value, cwd=tmp_path)

    assert result.returncode == 2
    assert one_line(result).startswith(f"aggregator: error: {message}")
    assert list(tmp_path.iterdir()) == []


# --- add ---------------------------------------------------------------------------------

CONFIG = """\
# Our event's feed. Every comment here must survive `aggregator add`.
[storage]
url = "sqlite:///agg.db"    # beside this file

[feed]
title = "Test feed"
id = "tag:example.org,2020:test"
base_url = "http://127.0.0.1:8080"
output_dir = "feeds"

# Read from a file beside this config (relative paths are resolved against it).
[[sources]]
name = "aljazeera"
url = "seeds/aljazeera.txt"
format = "liveblog-text"   # pinned
date = 2020-09-27

[service]
port = 8080
# The last line has no newline."""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "seeds").mkdir()
    shutil.copy(SEEDS / AJ_SEED, tmp_path / "seeds" / "aljazeera.txt")
    path = tmp_path / "aggregator.toml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o600)  # it may hold a database password: that must stay so
    return path


def test_add_appends_a_table_and_keeps_every_byte_of_the_file(site: str, config: Path) -> None:
    result = aggregator(
        "--config", str(config), "add", f"{site}/live/aljazeera", "--name", "aj-live",
        "--timezone", "Europe/London", "--date", "2020-09-27", "--interval", "90",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"added source 'aj-live' to {config}: json-ld reading, 40 updates "
        "(format liveblog-html, timezone Europe/London)",
        "a running service picks it up on SIGHUP: kill -HUP <pid of aggregator run>",
    ]
    text = config.read_text(encoding="utf-8")
    old, new = CONFIG.splitlines(), text.splitlines()
    assert new[: len(old)] == old  # only lines appended
    assert new[len(old) :] == [
        "",
        new[len(old) + 1],
        "[[sources]]",
        'name = "aj-live"',
        'title = "Armenia-Azerbaijan clashes: Live news"',
        f'url = "{site}/live/aljazeera"',
        'format = "liveblog-html"',
        "interval = 90",
        'timezone = "Europe/London"',
        "date = 2020-09-27",
    ]
    assert re.fullmatch(
        r"# Added by `aggregator add` on \d{4}-\d\d-\d\d: json-ld reading, 40 updates\.",
        new[len(old) + 1],
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    first, added = load_settings(config, environ={}).sources
    assert first.url == (config.parent / "seeds" / "aljazeera.txt").as_uri()
    assert (added.name, added.interval.total_seconds(), added.day) == (
        "aj-live", 90, date(2020, 9, 27)
    )  # fmt: skip
    assert sorted(p.name for p in config.parent.iterdir()) == ["aggregator.toml", "seeds"]


def unchanged_after(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `aggregator --config CONFIG add ...` and check it left the directory as it was."""
    before = config.read_bytes()
    listing = sorted(config.parent.iterdir())
    result = aggregator("--config", str(config), "add", *args)
    assert config.read_bytes() == before
    assert sorted(config.parent.iterdir()) == listing  # no temporary file left behind
    return result


def test_add_refuses_a_name_already_configured(site: str, config: Path) -> None:
    result = unchanged_after(config, f"{site}/live/aljazeera", "--name", "aljazeera")

    assert result.returncode == 2
    assert one_line(result) == (
        f"aggregator: error: {config}: sources: a source named 'aljazeera' is already "
        "configured (sources[0]); nothing was written (expected a new --name)"
    )


def test_add_refuses_a_url_already_configured_however_spelt(config: Path) -> None:
    # The config says "seeds/aljazeera.txt", relative to its own directory.
    spelt = config.parent / "seeds" / ".." / "seeds" / "aljazeera.txt"
    result = unchanged_after(config, str(spelt), "--name", "again", "--timezone", "UTC")

    assert result.returncode == 2
    url = (config.parent / "seeds" / "aljazeera.txt").as_uri()
    assert one_line(result) == (
        f"aggregator: error: {config}: sources: {url} is already configured, as source "
        "'aljazeera' (sources[0]); nothing was written"
    )


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--timezone", "Mars/Olympus", "timezone: unknown time zone 'Mars/Olympus'"),
        ("--date", "2020-02-30", "date: expected a date such as 2020-09-27 or a date-time"),
        ("--interval", "often", "interval: expected a duration such as '90s'"),
    ],
)
def test_add_refuses_a_value_the_config_loader_refuses(
    site: str, config: Path, option: str, value: str, problem: str
) -> None:
    result = unchanged_after(config, f"{site}/live/aljazeera", "--name", "extra", option, value)

    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(f"aggregator: error: {config}: sources[1] (extra).{problem}")
    assert line.endswith("; nothing was written")


def test_add_refuses_a_page_without_updates_unless_forced(site: str, config: Path) -> None:
    refused = unchanged_after(config, f"{site}/live/quiet", "--name", "quiet", "--timezone", "UTC")
    assert refused.returncode == 1
    assert refused.stdout == ""
    line = one_line(refused)
    assert line.startswith("aggregator: no updates found: ")
    assert line.endswith(f"; nothing was written to {config} (--force adds it anyway)")

    forced = aggregator(
        "--config", str(config), "add", f"{site}/live/quiet", "--name", "quiet", "--force"
    )
    assert forced.returncode == 0, forced.stderr
    assert "added all the same (--force)" in forced.stderr
    assert "UTC was assumed" in forced.stderr
    added = load_settings(config, environ={}).sources[-1]
    assert (added.name, added.format, added.timezone.key) == ("quiet", "auto", "UTC")


def test_add_does_not_create_the_database(site: str, config: Path) -> None:
    database = config.parent / "elsewhere" / "agg.db"
    result = aggregator(
        "--config", str(config), "add", f"{site}/live/aljazeera", "--name", "aj-live",
        env={"AGGREGATOR_DATABASE_URL": f"sqlite:///{database}"},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert not database.parent.exists()
    assert not (config.parent / "agg.db").exists()


# --- a running service follows ----------------------------------------------------------


def test_a_running_service_polls_a_source_added_once_it_gets_sighup(
    project: Project, tmp_path: Path, site: str
) -> None:
    service, base = start_run(project.config, tmp_path)
    try:
        wait_for(lambda: b"<entry>" in (get(base + "/feed.atom") or EMPTY).content, 30, "a feed")
        added = aggregator(
            "--config", str(project.config), "add", f"{site}/live/reload", "--name", "reloaded",
            "--timezone", "UTC", "--interval", "1s",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert "kill -HUP" in added.stdout
        os.kill(service.pid, signal.SIGHUP)

        def followed() -> bytes | None:
            body = (get(base + "/feed.atom") or EMPTY).content
            wanted = (b"Reload check: first update", b"Reload check: second update")
            return body if all(title in body for title in wanted) else None

        feed = wait_for(followed, 30, "the added source's entries in /feed.atom")
        assert b"<id>tag:example.org,2020:test/reloaded</id>" in feed
        assert "configuration reloaded" in service.stderr()
        assert "added=reloaded" in service.stderr()
        assert service.signal(signal.SIGTERM, timeout=20) == 0, service.describe()
    finally:
        service.kill()
