"""Hostile configs and arguments: one clear line, exit 2, nothing written.

Every case runs the real command in its own process, the way a person with a
typo in their config meets it. Whatever is wrong, the command must say so in
one line on stderr that names the config file, the key (as a path such as
`sources[1] (dailyknight).interval`) and what was expected; exit 2; print no
traceback (unless `--debug`); and write nothing: no database file, no feed,
no change to any file it was pointed at.

Decisions this file pins down:

* an empty config file is an error (it names the tables a config needs);
* a config without sources is an error: a feed of nothing is a mistake;
* a file source whose path does not exist is *not* a config error: the file
  may appear later (a mounted volume, a fixture being written), so each poll
  records a `SourceFailed` and the other sources carry on;
* a database that cannot be opened is reported against the key its URL came
  from (`storage.url`, or `$AGGREGATOR_DATABASE_URL` overriding it), with any
  password masked;
* argument errors are argparse's: the usage line, then one line naming the
  option, exit 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.support import DK_SEED
from tests.test_cli import run

PREFIX = "aggregator: error: "
SECRET = "hunter2"
AT_LINE = re.compile(r"\(at line \d+, column \d+\)")
ROOT_SKIP = pytest.mark.skipif(
    os.geteuid() == 0, reason="running as root: file permissions do not stop root reading"
)

Setup = Callable[[Project], Path]


@dataclass(frozen=True)
class Abuse:
    """One hostile input: how to make it, what to run, and what must be said.

    `key` is the key path the message must name after the file (None for a
    problem with the file as a whole); each of `expected` must appear in the
    message (a string, or a pattern searched for).
    """

    setup: Setup
    command: tuple[str, ...]
    key: str | None
    expected: tuple[str | re.Pattern[str], ...]
    env: Mapping[str, str] = field(default_factory=dict)


def edit(old: str, new: str, after: str = "") -> Setup:
    """Replace the first `old` at or after `after` in the project's config.

    `{root}` in `new` becomes the project's directory.
    """

    def setup(project: Project) -> Path:
        text = project.config.read_text(encoding="utf-8")
        start = text.index(after) if after else 0
        at = text.index(old, start)
        replacement = new.replace("{root}", str(project.root))
        project.config.write_text(text[:at] + replacement + text[at + len(old) :], "utf-8")
        return project.config

    return setup


def in_dailyknight(old: str, new: str) -> Setup:
    """Edit the second source's table (sources[1], named dailyknight)."""
    return edit(old, new, after='name = "dailyknight"')


def set_value(key: str, value: str, after: str = "") -> Setup:
    """Give the first `key = …` line at or after `after` the TOML `value` instead."""

    def setup(project: Project) -> Path:
        text = project.config.read_text(encoding="utf-8")
        start = text.index(after) if after else 0
        line = re.compile(rf"^{re.escape(key)} = .*$", re.MULTILINE).search(text, start)
        assert line is not None, key
        replacement = f"{key} = {value}".replace("{root}", str(project.root))
        project.config.write_text(text[: line.start()] + replacement + text[line.end() :], "utf-8")
        return project.config

    return setup


def dailyknight(key: str, value: str) -> Setup:
    return set_value(key, value, after='name = "dailyknight"')


def both(first: Setup, second: Setup) -> Setup:
    def setup(project: Project) -> Path:
        first(project)
        return second(project)

    return setup


def append(extra: str) -> Setup:
    def setup(project: Project) -> Path:
        with project.config.open("a", encoding="utf-8") as handle:
            handle.write(extra)
        return project.config

    return setup


def content(data: bytes) -> Setup:
    def setup(project: Project) -> Path:
        project.config.write_bytes(data)
        return project.config

    return setup


def without_sources(replacement: str) -> Setup:
    def setup(project: Project) -> Path:
        text = project.config.read_text(encoding="utf-8")
        project.config.write_text(text[: text.index("[[sources]]")] + replacement, "utf-8")
        return project.config

    return setup


def with_file(name: str, then: Setup, data: bytes = b"not a directory\n") -> Setup:
    """Create a regular file `name` in the project, then apply `then`."""

    def setup(project: Project) -> Path:
        (project.root / name).write_bytes(data)
        return then(project)

    return setup


def config_is_directory(project: Project) -> Path:
    (project.root / "conf.d").mkdir()
    return project.root / "conf.d"


def config_is_missing(project: Project) -> Path:
    return project.root / "missing.toml"


def config_is_unreadable(project: Project) -> Path:
    project.config.chmod(0)
    return project.config


NOTHING = edit("", "")
PG_DOWN = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/none"
ENV_KEY = "storage.url (overridden by $AGGREGATOR_DATABASE_URL)"
DK = "sources[1] (dailyknight)"
INTERVAL = 'interval = "5m"'
COLLECT = ("collect",)

CASES = [
    # The file itself.
    pytest.param(
        Abuse(
            edit('title = "Test feed"', 'title = "Test feed'),
            COLLECT,
            None,
            ("not valid TOML", AT_LINE),
        ),
        id="toml-unclosed-string",
    ),
    pytest.param(
        Abuse(edit("[feed]", "[feed"), COLLECT, None, ("not valid TOML", AT_LINE)),
        id="toml-bad-table-header",
    ),
    pytest.param(
        Abuse(
            edit("max_entries = 100", "max_entries = 100\nmax_entries = 5"),
            COLLECT,
            None,
            ("not valid TOML", "Cannot overwrite a value", AT_LINE),
        ),
        id="toml-duplicate-key",
    ),
    pytest.param(
        Abuse(append("deep = " + "[" * 5000 + "]" * 5000 + "\n"), COLLECT, None, ("nested",)),
        id="toml-nested-too-deeply",
    ),
    pytest.param(
        Abuse(
            content(b"\xff\xfe[\x00f\x00e\x00e\x00d\x00]\x00"),
            COLLECT,
            None,
            ("not UTF-8", "byte 0xff", "expected a TOML file"),
        ),
        id="binary-not-utf8",
    ),
    pytest.param(
        Abuse(content(b""), COLLECT, None, ("empty", "expected a [feed] table", "[[sources]]")),
        id="empty-file",
    ),
    pytest.param(
        Abuse(
            content(b"# nothing but a comment\n\n"),
            COLLECT,
            None,
            ("empty", "expected a [feed] table"),
        ),
        id="comments-only-file",
    ),
    pytest.param(
        Abuse(
            config_is_directory, COLLECT, None, ("Is a directory", "expected a readable TOML file")
        ),
        id="config-is-a-directory",
    ),
    pytest.param(
        Abuse(config_is_missing, COLLECT, None, ("config file not found", "expected a TOML file")),
        id="config-missing",
    ),
    pytest.param(
        Abuse(
            config_is_unreadable, COLLECT, None, ("Permission denied", "expected a readable TOML")
        ),
        id="config-unreadable",
        marks=ROOT_SKIP,
    ),
    # Keys nobody reads.
    pytest.param(
        Abuse(
            edit("[feed]", '[database]\nurl = "x"\n\n[feed]'),
            COLLECT,
            "database",
            ("unknown key", "expected one of: feed, service, sources, storage"),
        ),
        id="unknown-top-level-table",
    ),
    pytest.param(
        Abuse(
            edit("max_entries = 100", 'max_entries = 100\ncolour = "red"'),
            COLLECT,
            "feed.colour",
            ("unknown key", "expected one of: archive_size, author, base_url"),
        ),
        id="unknown-feed-key",
    ),
    pytest.param(
        Abuse(
            in_dailyknight(INTERVAL, f"{INTERVAL}\nretries = 3"),
            COLLECT,
            "sources[1].retries",
            ("unknown key", "expected one of: author, date"),
        ),
        id="unknown-source-key",
    ),
    pytest.param(
        Abuse(
            in_dailyknight(INTERVAL, 'intervall = "5m"'),
            COLLECT,
            "sources[1].intervall",
            ("unknown key", "did you mean 'interval'?"),
        ),
        id="typo-in-source-key",
    ),
    # Wrong types.
    pytest.param(
        Abuse(
            edit("max_entries = 100", 'max_entries = "100"'),
            COLLECT,
            "feed.max_entries",
            ("expected an integer from 1 to 10000, got '100'",),
        ),
        id="max-entries-string",
    ),
    pytest.param(
        Abuse(
            in_dailyknight('title = "The Daily Knight"', 'title = ["The Daily Knight"]'),
            COLLECT,
            f"{DK}.title",
            ("expected a non-empty string, got an array",),
        ),
        id="title-list",
    ),
    pytest.param(
        Abuse(
            dailyknight("url", '{ path = "x" }'),
            COLLECT,
            f"{DK}.url",
            ("expected a non-empty string, got a table",),
        ),
        id="url-table",
    ),
    pytest.param(
        Abuse(
            in_dailyknight(INTERVAL, "interval = true"),
            COLLECT,
            f"{DK}.interval",
            ("expected a duration such as", "got true"),
        ),
        id="interval-bool",
    ),
    pytest.param(
        Abuse(
            edit("port = 8080", "port = 8080.5"),
            COLLECT,
            "service.port",
            ("expected an integer from 0 to 65535, got 8080.5",),
        ),
        id="port-float",
    ),
    # Out of range.
    pytest.param(
        Abuse(
            edit("max_entries = 100", "max_entries = 0"),
            COLLECT,
            "feed.max_entries",
            ("expected an integer from 1 to 10000, got 0",),
        ),
        id="max-entries-zero",
    ),
    pytest.param(
        Abuse(
            edit("max_entries = 100", "max_entries = 9223372036854775807"),
            COLLECT,
            "feed.max_entries",
            ("expected an integer from 1 to 10000",),
        ),
        id="max-entries-huge",
    ),
    pytest.param(
        Abuse(
            edit("port = 8080", "port = 70000"),
            COLLECT,
            "service.port",
            ("expected an integer from 0 to 65535, got 70000",),
        ),
        id="port-70000",
    ),
    pytest.param(
        Abuse(
            edit("port = 8080", "port = 8080\nworkers = 0"),
            COLLECT,
            "service.workers",
            ("expected an integer from 1 to 64, got 0",),
        ),
        id="workers-zero",
    ),
    pytest.param(
        Abuse(
            edit("port = 8080", "port = 8080\nmax_backoff = 1e400"),
            COLLECT,
            "service.max_backoff",
            ("expected a duration", "from 1s to 7d", "got inf"),
        ),
        id="max-backoff-infinite",
    ),
    # Source names.
    pytest.param(
        Abuse(
            edit('name = "dailyknight"', 'name = "aljazeera"'),
            COLLECT,
            "sources[1].name",
            ("duplicate source name 'aljazeera'", "sources[0]", "expected a unique name"),
        ),
        id="duplicate-source-names",
    ),
    pytest.param(
        Abuse(
            edit('name = "dailyknight"', 'name = "../x"'),
            COLLECT,
            "sources[1].name",
            ("expected 1 to 64 lowercase letters, digits", "got '../x'"),
        ),
        id="name-path-traversal",
    ),
    pytest.param(
        Abuse(
            edit('name = "dailyknight"', 'name = "Daily Knight!"'),
            COLLECT,
            "sources[1].name",
            ("expected 1 to 64 lowercase letters, digits", "got 'Daily Knight!'"),
        ),
        id="name-bad-characters",
    ),
    pytest.param(
        Abuse(
            without_sources(""),
            COLLECT,
            "sources",
            ("expected at least one [[sources]] table",),
        ),
        id="no-sources",
    ),
    pytest.param(
        Abuse(
            without_sources("sources = []\n"),
            COLLECT,
            "sources",
            ("expected at least one [[sources]] table",),
        ),
        id="empty-sources-array",
    ),
    # Intervals nobody could mean.
    *(
        pytest.param(
            Abuse(
                in_dailyknight(INTERVAL, f"interval = {value}"),
                COLLECT,
                f"{DK}.interval",
                ("expected a duration such as '90s'", "from 1s to 7 days", f"got {shown}"),
            ),
            id=f"interval-{name}",
        )
        for name, value, shown in [
            ("zero", '"0s"', "'0s'"),
            ("negative", "-5", "-5"),
            ("fortnight", '"1 fortnight"', "'1 fortnight'"),
            ("ten-years", '"3650d"', "'3650d'"),
            ("infinite", "inf", "inf"),
            ("not-a-number", "nan", "nan"),
            ("huge-integer", "99999999999999999", "99999999999999999"),
            ("more-days-than-a-float-holds", f'"{"9" * 400}d"', f"'{'9' * 400}d'"),
        ]
    ),
    pytest.param(
        Abuse(
            both(dailyknight("url", '"https://example.org/live"'), dailyknight("interval", '"5s"')),
            COLLECT,
            f"{DK}.interval",
            ("from 10s to 7 days (under 10s only for file and loopback sources)", "got '5s'"),
        ),
        id="interval-5s-for-http",
    ),
    # Times and places.
    pytest.param(
        Abuse(
            in_dailyknight('timezone = "America/New_York"', 'timezone = "Mars/Olympus_Mons"'),
            COLLECT,
            f"{DK}.timezone",
            ("unknown time zone 'Mars/Olympus_Mons'", "expected an IANA name"),
        ),
        id="timezone-unknown",
    ),
    pytest.param(
        Abuse(
            in_dailyknight('timezone = "America/New_York"', 'timezone = "America"'),
            COLLECT,
            f"{DK}.timezone",
            ("unknown time zone 'America'", "expected an IANA name"),
        ),
        id="timezone-is-a-region-directory",
    ),
    pytest.param(
        Abuse(
            in_dailyknight("date = 2020-09-27", 'date = "2020-02-30"'),
            COLLECT,
            f"{DK}.date",
            ("expected a date such as 2020-09-27", "got '2020-02-30'"),
        ),
        id="date-invalid",
    ),
    pytest.param(
        Abuse(
            dailyknight("date", "10:30:00"),
            COLLECT,
            f"{DK}.date",
            ("expected a date such as 2020-09-27", "got 10:30:00"),
        ),
        id="date-is-a-time-of-day",
    ),
    pytest.param(
        Abuse(
            dailyknight("timezone", "-5"),
            COLLECT,
            f"{DK}.timezone",
            ("expected an IANA time zone name", "got -5"),
        ),
        id="timezone-is-a-number",
    ),
    pytest.param(
        Abuse(
            in_dailyknight("date = 2020-09-27", "date = 2020-02-30"),
            COLLECT,
            None,
            ("not valid TOML", "Invalid date", AT_LINE),
        ),
        id="date-invalid-toml-literal",
    ),
    # URLs.
    *(
        pytest.param(
            Abuse(
                dailyknight("url", json.dumps(url)),  # a JSON string is a TOML string
                COLLECT,
                f"{DK}.url",
                (expected, f"got {url!r}"),
            ),
            id=f"url-{name}",
        )
        for name, url, expected in [
            ("ftp", "ftp://example.org/live.txt", "expected an http(s) URL, a file URL or a path"),
            ("javascript", "javascript:alert(1)", "expected an http(s) URL, a file URL or a path"),
            ("no-host", "https:///live", "expected an absolute URL"),
            ("port-out-of-range", "http://example.org:99999/live", "expected a port"),
            ("port-not-a-number", "http://example.org:abc/live", "expected a port"),
            ("broken-ipv6", "http://[::1/live", "expected an absolute URL"),
            ("nul-in-path", "seeds/a\x00b.txt", "expected a path without NUL"),
        ]
    ),
    pytest.param(
        Abuse(
            edit('base_url = "http://127.0.0.1:8080"', 'base_url = "http://[::1:8080"'),
            COLLECT,
            "feed.base_url",
            ("expected an absolute http(s) URL",),
        ),
        id="base-url-broken-ipv6",
    ),
    pytest.param(
        Abuse(
            edit('id = "tag:example.org,2020:test"', 'id = "http://[x/feed"'),
            COLLECT,
            "feed.id",
            ("expected a URI",),
        ),
        id="feed-id-broken-ipv6",
    ),
    pytest.param(
        Abuse(
            append('\n[sources.selectors]\nupdate = "div[[["\n'),
            COLLECT,
            f"{DK}.selectors.update",
            ("not a valid CSS selector", "div[[["),
        ),
        id="css-selector-unparseable",
    ),
    # Storage and output.
    pytest.param(
        Abuse(
            set_value("url", f'"mysql://app:{SECRET}@db/feeds"'),
            COLLECT,
            "storage.url",
            ("expected sqlite:/// or postgresql://", "got 'mysql://app:***@db/feeds'"),
        ),
        id="storage-mysql",
    ),
    pytest.param(
        Abuse(
            set_value("url", f'"postgresql+psycopg2://app:{SECRET}@127.0.0.1:1/feeds"'),
            COLLECT,
            "storage.url",
            ("driver psycopg", "got 'postgresql+psycopg2://app:***@127.0.0.1:1/feeds'"),
        ),
        id="storage-driver-not-installed",
    ),
    pytest.param(
        Abuse(
            set_value("url", f'"postgresql://app:{SECRET}@db:port/feeds"'),
            COLLECT,
            "storage.url",
            ("expected a database URL", "got 'postgresql://app:***@db:port/feeds'"),
        ),
        id="storage-url-bad-port",
    ),
    pytest.param(
        Abuse(
            set_value("url", '"not a database url"'),
            COLLECT,
            "storage.url",
            ("expected a database URL", "got 'not a database url'"),
        ),
        id="storage-not-a-url",
    ),
    pytest.param(
        Abuse(
            set_value("url", f'"{PG_DOWN}"'),
            COLLECT,
            "storage.url",
            (
                "cannot open database postgresql+psycopg://postgres:***@127.0.0.1:1/none",
                "Connection refused",
            ),
        ),
        id="storage-postgres-unreachable",
    ),
    pytest.param(
        Abuse(
            NOTHING,
            COLLECT,
            ENV_KEY,
            ("cannot open database postgresql+psycopg://postgres:***@127.0.0.1:1/none",),
            env={"AGGREGATOR_DATABASE_URL": PG_DOWN},
        ),
        id="env-database-unreachable",
    ),
    pytest.param(
        Abuse(
            NOTHING,
            COLLECT,
            ENV_KEY,
            ("expected sqlite:/// or postgresql://", "got 'mysql://app:***@db/feeds'"),
            env={"AGGREGATOR_DATABASE_URL": f"mysql://app:{SECRET}@db/feeds"},
        ),
        id="env-database-mysql",
    ),
    pytest.param(
        Abuse(
            NOTHING,
            COLLECT,
            ENV_KEY,
            ("expected a database URL",),
            env={"AGGREGATOR_DATABASE_URL": "::nonsense::"},
        ),
        id="env-database-not-a-url",
    ),
    pytest.param(
        Abuse(
            with_file("blocker", edit("agg.db", "blocker/var/agg.db")),
            COLLECT,
            "storage.url",
            ("expected an SQLite file in a directory", "is a file"),
        ),
        id="sqlite-directory-under-a-file",
    ),
    pytest.param(
        Abuse(
            edit("agg.db", "seeds"),
            COLLECT,
            "storage.url",
            ("expected an SQLite file", "is a directory"),
        ),
        id="sqlite-path-is-a-directory",
    ),
    pytest.param(
        Abuse(
            with_file("notes.txt", edit("agg.db", "notes.txt"), b"shopping list\n" * 200),
            COLLECT,
            "storage.url",
            ("cannot open database sqlite:///", "file is not a database"),
        ),
        id="sqlite-file-is-not-a-database",
    ),
    pytest.param(
        Abuse(
            with_file("blocker", edit('feeds"', 'blocker"')),
            COLLECT,
            "feed.output_dir",
            ("expected a directory", "is a file"),
        ),
        id="output-dir-is-a-file",
    ),
    pytest.param(
        Abuse(
            set_value("output_dir", '"feeds\\u0000"'),
            COLLECT,
            "feed.output_dir",
            ("expected a path without NUL characters",),
        ),
        id="output-dir-nul",
    ),
    pytest.param(
        Abuse(
            with_file("blocker", edit('feeds"', 'blocker/feeds"')),
            COLLECT,
            "feed.output_dir",
            ("expected a directory", "is a file"),
        ),
        id="output-dir-under-a-file",
    ),
    pytest.param(
        Abuse(
            NOTHING,
            ("collect", "--source", "nosuch"),
            "sources",
            ("no source named 'nosuch'", "expected one of: aljazeera, dailyknight"),
        ),
        id="collect-unknown-source",
    ),
]


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` with a digest of its bytes ("dir" for directories)."""
    return {
        str(path.relative_to(root)): "dir"
        if path.is_dir()
        else hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("case", CASES)
def test_abuse_is_one_clear_line_exit_2_and_nothing_written(project: Project, case: Abuse) -> None:
    config = case.setup(project)
    before = snapshot(project.root)
    result = run("--config", str(config), *case.command, env=dict(case.env))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    line = result.stderr.rstrip("\n")
    where = f"{PREFIX}{config}: "
    assert line.startswith(where), line
    if case.key is not None:
        assert line.startswith(f"{where}{case.key}: "), line
    for expected in case.expected:
        if isinstance(expected, str):
            assert expected in line, (expected, line)
        else:
            assert expected.search(line), (expected.pattern, line)
    assert SECRET not in result.stderr
    assert not project.database.exists()
    assert not project.output.exists()
    assert snapshot(project.root) == before


ARGUMENT_CASES = [
    pytest.param(("feed", "--as-of", "garbage"), "--as-of", id="as-of-garbage"),
    pytest.param(("replay", "--until", "yesterday"), "--until", id="until-garbage"),
    pytest.param(("events", "--since", "-5"), "--since", id="since-negative"),
    pytest.param(("events", "--since", "soon"), "--since", id="since-not-a-number"),
    pytest.param(("events", "--since", "\u00b2"), "--since", id="since-superscript-digit"),
    pytest.param(("feed", "--as-of", "\u00b2"), "--as-of", id="as-of-superscript-digit"),
    pytest.param(("run", "--port", "abc"), "--port", id="port-not-a-number"),
    pytest.param(("serve", "--port", "70000"), "--port", id="port-out-of-range"),
    pytest.param(("run", "--collector-only", "--shard", "3/2"), "--shard", id="shard-3-of-2"),
    pytest.param(("sources", "--shard", "0/0"), "--shard", id="shard-0-of-0"),
    pytest.param(("sources", "--check", "--overdue", "soon"), "--overdue", id="overdue-garbage"),
    pytest.param(("fixtures", "serve", "--speed", "-1"), "--speed", id="speed-negative"),
    pytest.param(("frobnicate",), "COMMAND", id="unknown-command"),
    pytest.param(("collect", "--verbose"), "--verbose", id="unknown-option"),
    pytest.param(("db", "drop"), "ACTION", id="unknown-db-action"),
]


@pytest.mark.parametrize(("arguments", "option"), ARGUMENT_CASES)
def test_bad_arguments_name_the_option_and_exit_2(
    project: Project, arguments: tuple[str, ...], option: str
) -> None:
    before = snapshot(project.root)
    result = run("--config", str(project.config), *arguments)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("usage: aggregator"), result.stderr
    assert re.match(r"aggregator( [a-z]+)*: error: ", lines[-1]), result.stderr
    assert option in lines[-1], result.stderr
    assert not project.database.exists()
    assert snapshot(project.root) == before


def test_an_output_file_that_cannot_be_written_is_one_line(project: Project) -> None:
    target = project.seeds  # a directory where the feed file should go
    result = run("--config", str(project.config), "feed", "--output", str(target))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr == f"{PREFIX}{target}: Is a directory\n"


def test_a_config_option_without_a_path_is_named() -> None:
    result = run("--config")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "aggregator: error: argument --config: expected one argument"
    )


def test_debug_adds_the_traceback(project: Project) -> None:
    text = project.config.read_text(encoding="utf-8")
    project.config.write_text(text.replace("port = 8080", "port = 70000"), encoding="utf-8")
    quiet = run("--config", str(project.config), "collect")
    loud = run("--config", str(project.config), "--debug", "collect")
    assert quiet.returncode == loud.returncode == 2
    assert "Traceback" not in quiet.stderr
    assert loud.stderr.startswith("Traceback (most recent call last):")
    assert "ConfigError" in loud.stderr
    # The same one-line message still ends the output.
    assert loud.stderr.splitlines()[-1] == quiet.stderr.rstrip("\n")
    assert not project.database.exists()


def test_debug_traceback_for_an_unreachable_database(project: Project) -> None:
    text = project.config.read_text(encoding="utf-8")
    url = text[text.index("sqlite:///") : text.index("agg.db") + len("agg.db")]
    project.config.write_text(text.replace(url, PG_DOWN), encoding="utf-8")
    loud = run("--config", str(project.config), "--debug", "collect")
    assert loud.returncode == 2
    assert "Traceback (most recent call last):" in loud.stderr
    assert loud.stderr.splitlines()[-1].startswith(f"{PREFIX}{project.config}: storage.url: ")
    assert SECRET not in loud.stderr


def test_a_missing_file_source_is_a_recorded_failure_not_a_config_error(
    project: Project,
) -> None:
    """The path is checked at each poll, not at load: the file may appear later."""
    (project.seeds / DK_SEED).unlink()
    config = ("--config", str(project.config))
    listed = run(*config, "sources")
    assert listed.returncode == 0, listed.stderr
    collected = run(*config, "collect")
    assert collected.returncode == 1, collected.stderr
    assert "Traceback" not in collected.stderr
    line = next(x for x in collected.stdout.splitlines() if x.startswith("dailyknight"))
    assert "error (not-found): file not found" in line and DK_SEED in line
    assert any(x.startswith("aljazeera") and "new 40" in x for x in collected.stdout.splitlines())
    records = [json.loads(x) for x in run(*config, "events", "--json").stdout.splitlines()]
    failed = [r for r in records if r["type"] == "SourceFailed"]
    assert [r["source"] for r in failed] == ["dailyknight"]


def test_the_table_is_large_enough() -> None:
    assert len([c for c in CASES if not c.marks]) >= 25
