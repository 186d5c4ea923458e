"""Export to JSON lines and import into an empty store of either kind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.support import AJ_SEED
from tests.test_cli import run


@pytest.fixture
def exported(project: Project, tmp_path: Path) -> Path:
    """A log with additions, a revision and a failure, exported to a file."""
    config = ["--config", str(project.config)]
    assert run(*config, "collect").returncode == 0
    seed = project.seeds / AJ_SEED
    text = seed.read_text(encoding="utf-8")
    seed.write_text(text.replace("calling on both sides", "urging both sides"), encoding="utf-8")
    assert run(*config, "collect").returncode == 0
    seed.unlink()
    assert run(*config, "collect").returncode == 1  # recorded as SourceFailed
    path = tmp_path / "log.jsonl"
    assert run(*config, "export", "--output", str(path)).returncode == 0
    return path


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'imported.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_import_replays_to_the_same_feed_bytes(
    kind: str, project: Project, exported: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    config = ["--config", str(project.config)]
    original_events = run(*config, "events", "--json").stdout
    assert exported.read_text(encoding="utf-8") == original_events
    types = {json.loads(line)["type"] for line in original_events.splitlines()}
    assert types >= {"EntryAdded", "EntryRevised", "SourcePolled", "SourceFailed"}
    original_feed = run(*config, "feed").stdout

    target = {"AGGREGATOR_DATABASE_URL": store_url(kind, tmp_path, request)}
    imported = run(*config, "import", str(exported), env=target)
    assert imported.returncode == 0, imported.stderr
    count = len(original_events.splitlines())
    assert imported.stdout.startswith(f"imported {count} events; 46 entries")
    assert run(*config, "events", "--json", env=target).stdout == original_events
    assert run(*config, "feed", env=target).stdout == original_feed
    replayed = run(*config, "replay", env=target)
    assert replayed.returncode == 0
    assert run(*config, "feed", env=target).stdout == original_feed


def test_import_refuses_a_log_that_is_not_empty(project: Project, exported: Path) -> None:
    result = run("--config", str(project.config), "import", str(exported))
    assert result.returncode == 2
    assert "an import needs an empty log; this one holds" in result.stderr


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda lines: lines[:3] + lines[4:], "line 4: position 5 where 4 was expected"),
        (lambda lines: [*lines[:2], "{not json", *lines[2:]], "line 3: not JSON"),
        (
            lambda lines: [lines[0].replace('"EntryAdded"', '"EntryDeleted"'), *lines[1:]],
            "line 1: unknown event type 'EntryDeleted'",
        ),
        (
            lambda lines: [
                re.sub(r'"schema_version": \d+', '"schema_version": 9', lines[0]),
                *lines[1:],
            ],
            "line 1: unknown schema version 9",
        ),
    ],
)
def test_a_damaged_export_is_refused_whole(
    project: Project, exported: Path, tmp_path: Path, damage: object, problem: str
) -> None:
    lines = exported.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(damage(lines)) + "\n", encoding="utf-8")  # type: ignore[operator]
    target = {"AGGREGATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    config = ["--config", str(project.config)]
    result = run(*config, "import", str(broken), env=target)
    assert result.returncode == 2
    assert f"{broken}: {problem}" in result.stderr
    assert run(*config, "events", env=target).stdout == ""  # nothing was written
