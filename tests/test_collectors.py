"""Several collectors on one log, on SQLite and on PostgreSQL: nothing lost, nothing twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aggregator.config.shard import Shard
from tests.conftest import SEED_SOURCES, config_text
from tests.service_process import Process, clean_env, cli, wait_for
from tests.support import REPO, SEEDS


def write_config(path: Path, storage: str, copies: int) -> Path:
    """`copies` pairs of the two seed blogs, as distinct sources, read as files."""
    urls = {
        f"{seed}-{n}": (SEEDS / SEED_SOURCES[seed][0]).as_uri()
        for n in range(copies)
        for seed in SEED_SOURCES
    }
    path.write_text(config_text(storage, path.parent / f"{path.stem}-feeds", urls))
    return path


def entries(config: Path) -> set[tuple[str, str, str]]:
    """(source, key, content hash) of every entry event; asserts none came twice."""
    result = cli(config, "events", "--json")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys))
    assert [r["position"] for r in records] == list(range(1, len(records) + 1))
    found = [
        (r["source"], r["payload"]["key"], r["payload"]["content_hash"])
        for r in records
        if r["type"] in ("EntryAdded", "EntryRevised")
    ]
    assert len(found) == len(set(found)), "an entry event was appended twice"
    return set(found)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def single_run(tmp_path: Path) -> set[tuple[str, str, str]]:
    """What one collector makes of 4 copies of the seeds, in its own SQLite file."""
    config = write_config(tmp_path / "single.toml", f"sqlite:///{tmp_path / 'single.db'}", 4)
    assert cli(config, "collect").returncode == 0
    return entries(config)


def test_shards_split_every_source_to_exactly_one_collector() -> None:
    names = [f"source-{n}" for n in range(500)]
    for count in (1, 2, 3, 4, 7):
        owners = [[i for i in range(1, count + 1) if Shard(i, count).owns(n)] for n in names]
        assert all(len(o) == 1 for o in owners)
        if count > 1:
            assert len({o[0] for o in owners}) == count  # every shard gets some
    for bad in ("0/2", "3/2", "a/b", "2", "1/0"):
        with pytest.raises(ValueError):
            Shard.parse(bad)


def test_four_collectors_racing_on_the_same_sources_append_each_entry_once(
    storage: str, tmp_path: Path, single_run: set[tuple[str, str, str]]
) -> None:
    config = write_config(tmp_path / "shared.toml", storage, 4)
    assert cli(config, "db", "upgrade").returncode == 0
    command = [sys.executable, "-m", "aggregator", "--config", str(config), "collect"]
    racing = [
        subprocess.Popen(command, cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs: list[Any] = [process.communicate(timeout=120) for process in racing]
    assert [process.returncode for process in racing] == [0, 0, 0, 0], outputs
    assert entries(config) == single_run
    assert len(single_run) == 4 * 46


def test_four_sharded_collectors_together_equal_one(
    storage: str, tmp_path: Path, single_run: set[tuple[str, str, str]]
) -> None:
    config = write_config(tmp_path / "shared.toml", storage, 4)
    logs = tmp_path / "logs"
    logs.mkdir()
    args = ["--config", str(config), "run", "--collector-only", "--shard"]
    collectors = [Process(f"collector-{i}", [*args, f"{i}/4"], logs) for i in range(1, 5)]
    try:

        def all_polled() -> bool | None:
            for collector in collectors:
                collector.check_alive()
            result = cli(config, "sources", "--json")
            rows = [json.loads(line) for line in result.stdout.splitlines()]
            return True if rows and all(r["outcome"] == "ok" for r in rows) else None

        wait_for(all_polled, 60, "every source polled once", every=0.5)
        for collector in collectors:
            assert collector.signal(signal.SIGTERM, timeout=20) == 0, collector.describe()
    finally:
        for collector in collectors:
            collector.kill()
    assert entries(config) == single_run
    polled = set()
    for i, collector in enumerate(collectors, 1):
        line = next(x for x in collector.stderr().splitlines() if "collecting (shard" in x)
        assert f"collecting (shard {i}/4)" in line
        polled |= set(line.split("sources=")[1].split(",")) - {"none"}
    assert polled == {name for name, _, _ in single_run}
