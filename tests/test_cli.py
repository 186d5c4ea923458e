"""The `aggregator` command end to end, as separate processes on real files."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from tests.atom_checks import atom_problems
from tests.conftest import Project
from tests.support import AJ_SEED, DK_SEED, REPO


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=120,
    )


def events_json(project: Project) -> list[dict[str, object]]:
    result = run("--config", str(project.config), "events", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_collect_feed_events_sources_replay(project: Project) -> None:
    config = ("--config", str(project.config))
    collected = run(*config, "collect")
    assert collected.returncode == 0, collected.stderr
    lines = collected.stdout.splitlines()
    assert lines[0].split() == [
        "aljazeera",
        "new",
        "40,",
        "revised",
        "0,",
        "unchanged",
        "0,",
        "errors",
        "0",
    ]
    assert lines[-3] == "stories: 2 entries linked into 1 cross-outlet stories"
    assert lines[-2] == "documents: 6 rendered, 6 written"  # two sources' and the merged feed
    assert lines[-1] == f"merged feed (46 entries): {project.output / 'feed.atom'}"

    feed = run(*config, "feed")
    assert feed.returncode == 0
    assert feed.stdout.encode() == (project.output / "feed.atom").read_bytes()
    assert atom_problems(feed.stdout.encode()) == []

    records = events_json(project)
    assert [r["position"] for r in records] == list(range(1, 51))
    assert {r["type"] for r in records} == {"EntryAdded", "SourcePolled", "StoryLinked"}
    # Polls append in the order they finish, so the seeds' events may interleave.
    first = next(r for r in records if r["source"] == "aljazeera")
    assert set(first) >= {"position", "type", "recorded_at", "payload"}
    assert first["payload"]["title"] == "Pashinyan: ‘Get ready to defend our sacred homeland’"  # type: ignore[index]
    since = run(*config, "events", "--since", "46")
    assert len(since.stdout.splitlines()) == 4
    assert "aljazeera 20200927T154300Z-0 joins story:" in since.stdout

    sources = run(*config, "sources")
    table = sources.stdout.splitlines()
    assert table[0].split() == [
        "SOURCE", "LAST", "POLL", "OUTCOME", "NEXT", "POLL", "ENTRIES", "FAILURES", "LAST", "ERROR"
    ]  # fmt: skip
    name, last_poll, outcome, next_poll, entries, failures = table[1].split()
    assert (name, outcome, entries, failures) == ("aljazeera", "ok", "40", "0")
    # The next poll is one interval (5m) after the last: nothing has failed.
    gap = datetime.fromisoformat(next_poll) - datetime.fromisoformat(last_poll)
    assert gap == timedelta(minutes=5)
    rows = [json.loads(line) for line in run(*config, "sources", "--json").stdout.splitlines()]
    assert [(r["name"], r["entries"], r["outcome"]) for r in rows] == [
        ("aljazeera", 40, "ok"),
        ("dailyknight", 6, "ok"),
    ]
    assert all(r["next_poll"] > r["last_poll"] for r in rows)

    replay = run(*config, "replay")
    assert replay.returncode == 0
    assert "folded 50 events" in replay.stdout and "46 entries" in replay.stdout
    assert (project.output / "feed.atom").read_bytes() == feed.stdout.encode()


def test_feed_as_of_a_time_and_database_override(project: Project, tmp_path: Path) -> None:
    other_db = f"sqlite:///{tmp_path / 'other.db'}"
    env = {"AGGREGATOR_DATABASE_URL": other_db}
    assert run("--config", str(project.config), "collect", env=env).returncode == 0
    assert (tmp_path / "other.db").exists() and not project.database.exists()
    recorded = events_json_env(project, env)[-1]["recorded_at"]
    before = run(
        "--config", str(project.config), "feed", "--as-of", "2000-01-01T00:00:00Z", env=env
    )
    assert feedparser.parse(before.stdout).entries == []
    assert atom_problems(before.stdout.encode()) == []
    at = run("--config", str(project.config), "feed", "--as-of", str(recorded), env=env)
    assert len(feedparser.parse(at.stdout).entries) == 46


def events_json_env(project: Project, env: dict[str, str]) -> list[dict[str, str]]:
    result = run("--config", str(project.config), "events", "--json", env=env)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_config_from_environment_variable(project: Project) -> None:
    result = run("collect", env={"AGGREGATOR_CONFIG": str(project.config)})
    assert result.returncode == 0, result.stderr
    assert "merged feed (46 entries)" in result.stdout


def test_missing_seed_is_reported_and_nothing_in_the_log_is_lost(project: Project) -> None:
    assert run("--config", str(project.config), "collect").returncode == 0
    before = events_json(project)
    (project.seeds / DK_SEED).unlink()
    result = run("--config", str(project.config), "collect")
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("dailyknight"))
    assert "file not found" in line and DK_SEED in line
    after = events_json(project)
    assert after[: len(before)] == before
    assert [r["type"] for r in after[len(before) :] if r["source"] == "dailyknight"] == [
        "SourceFailed"
    ]
    assert len(feedparser.parse(project.output / "feed.atom").entries) == 46


def test_unreadable_seed_is_reported(project: Project) -> None:
    target = project.seeds / AJ_SEED
    target.unlink()
    target.mkdir()  # a directory where a file should be: unreadable even for root
    result = run("--config", str(project.config), "collect")
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("aljazeera"))
    assert "is a directory" in line and AJ_SEED in line
    assert "dailyknight  new 6" in result.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_seed_is_reported(project: Project) -> None:
    (project.seeds / AJ_SEED).chmod(0)
    result = run("--config", str(project.config), "collect")
    assert result.returncode == 1
    assert "permission denied" in result.stdout


@pytest.mark.parametrize(
    ("old", "new", "key", "expected"),
    [
        (
            'interval = "5m"\ntimezone = "UTC"',
            'intreval = "5m"\ntimezone = "UTC"',
            "sources[0].intreval",
            "unknown key",
        ),
        (
            'interval = "5m"\ntimezone = "UTC"',
            'interval = "soon"\ntimezone = "UTC"',
            "sources[0] (aljazeera).interval",
            "expected a duration",
        ),
        (
            'timezone = "America/New_York"',
            'timezone = "America/Gotham"',
            "sources[1] (dailyknight).timezone",
            "unknown time zone 'America/Gotham'",
        ),
        (
            "max_entries = 100",
            "max_entries = 0",
            "feed.max_entries",
            "expected an integer from 1 to 10000",
        ),
    ],
)
def test_config_errors_name_file_key_and_expectation(
    project: Project, old: str, new: str, key: str, expected: str
) -> None:
    assert run("--config", str(project.config), "collect").returncode == 0
    before = events_json(project)
    text = project.config.read_text(encoding="utf-8")
    assert old in text
    project.config.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = run("--config", str(project.config), "collect")
    assert result.returncode == 2
    assert result.stderr.startswith(f"aggregator: error: {project.config}: {key}: ")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    project.config.write_text(text, encoding="utf-8")
    assert events_json(project) == before


def test_missing_config_file_and_bad_toml(tmp_path: Path) -> None:
    missing = run("--config", str(tmp_path / "nope.toml"), "sources")
    assert missing.returncode == 2
    assert f"{tmp_path / 'nope.toml'}: config file not found" in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[feed\ntitle = 1\n", encoding="utf-8")
    result = run("--config", str(broken), "sources")
    assert result.returncode == 2 and "not valid TOML" in result.stderr


def test_a_closed_pipe_ends_output_quietly(project: Project) -> None:
    config = ["--config", str(project.config)]
    assert run(*config, "collect").returncode == 0
    # --json prints whole payloads: more than a pipe buffer holds, so writes must fail.
    command = [sys.executable, "-m", "aggregator", *config, "events", "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # like `| head -n 1`
        stderr = process.stderr.read()
        assert process.wait(timeout=60) == 0
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr


def test_long_commands_show_progress_on_a_terminal_only(project: Project) -> None:
    config = ["--config", str(project.config)]
    assert run(*config, "collect").returncode == 0
    controller, terminal = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    try:
        replay = subprocess.run(
            [sys.executable, "-m", "aggregator", *config, "replay"],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=environ,
            cwd=REPO,
            timeout=120,
        )
        os.close(terminal)
        shown = b""
        while chunk := _read_available(controller):
            shown += chunk
    finally:
        os.close(controller)
    assert replay.returncode == 0
    assert b"replaying: position 50 of 50" in shown and b"replayed 50 events" in shown
    # Piped, the same command prints no progress line at all.
    assert "replay" not in run(*config, "replay").stderr


def _read_available(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the terminal side is closed and drained
        return b""


def test_a_port_in_use_is_a_clear_error(project: Project) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run("--config", str(project.config), "run", "--port", port)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        f"cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in result.stderr


def test_sources_check_is_a_health_check_per_shard(project: Project) -> None:
    config = ("--config", str(project.config))
    never = run(*config, "sources", "--check")
    assert never.returncode == 1
    assert "aggregator: aljazeera: never polled" in never.stderr
    assert "aggregator: dailyknight: never polled" in never.stderr
    assert run(*config, "collect", "--source", "dailyknight").returncode == 0
    # Shard 1 of 2 holds dailyknight alone (crc32), which has been polled now.
    shard = run(*config, "sources", "--check", "--shard", "1/2", "--json")
    assert shard.returncode == 0, shard.stderr
    assert [json.loads(line)["name"] for line in shard.stdout.splitlines()] == ["dailyknight"]
    from_env = run(*config, "sources", "--check", env={"AGGREGATOR_SHARD": "2/2"})
    assert from_env.returncode == 1 and "aljazeera: never polled" in from_env.stderr
    assert "dailyknight" not in from_env.stdout
    # On a 1 s interval, a second after its poll the source is late: overdue
    # with no tolerance, on schedule with the default ten minutes.
    text = project.config.read_text(encoding="utf-8")
    project.config.write_text(text.replace('interval = "5m"', 'interval = "1s"'), encoding="utf-8")
    time.sleep(1.2)
    late = run(*config, "sources", "--check", "--shard", "1/2", "--overdue", "0s")
    assert late.returncode == 1 and "dailyknight: overdue, next poll was due at" in late.stderr
    assert run(*config, "sources", "--check", "--shard", "1/2").returncode == 0
    wrong = run(*config, "sources", "--check", "--overdue", "soon")
    assert wrong.returncode == 2 and "expected a duration" in wrong.stderr


def test_each_command_loads_and_opens_only_what_it_needs(project: Project) -> None:
    """Every command gets one context that loads the config and opens the store
    on first use: with the database unreachable, the commands that need no
    store still work, `try` needs no config at all, and the others fail on
    the store with the one line naming where its URL came from."""
    down = {"AGGREGATOR_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    config = ("--config", str(project.config))
    exported = run(*config, "opml", "export", env=down)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("<?xml") and 'aggregator:name="aljazeera"' in exported.stdout
    fixtures = run(*config, "fixtures", "serve", "--start", "soon", env=down)
    assert (fixtures.returncode, fixtures.stderr) == (
        2,
        "aggregator: error: --start: expected an ISO time, got 'soon'\n",
    )
    missing = ("--config", str(project.root / "none.toml"))
    tried = run(*missing, "try", (project.seeds / AJ_SEED).as_uri(), "--format", "liveblog-text")
    assert tried.returncode == 0, tried.stderr
    assert "40 updates it would record" in tried.stdout
    key = "storage.url (overridden by $AGGREGATOR_DATABASE_URL)"
    where = f"aggregator: error: {project.config}: {key}: "
    for command in (("sources",), ("db", "status"), ("collect",)):
        refused = run(*config, *command, env=down)
        assert refused.returncode == 2 and refused.stderr.startswith(where), refused.stderr
        assert refused.stdout == "" and "Traceback" not in refused.stderr
    assert not project.database.exists() and not project.output.exists()
