"""Crash safety: a collector killed with SIGKILL inside a write transaction, 20 times,
per database.

Every round edits every source (so each collect appends revisions and folds
them), starts `aggregator collect`, waits a random part of a collect's run,
then watches the database until that process is seen inside a write
transaction (an append or a fold) and kills it there. SQLite shows a writer
as a write lock another connection cannot take (`BEGIN IMMEDIATE` fails at
once); PostgreSQL shows it in `pg_stat_activity` as the process's session
(its application name carries the pid) holding a transaction id, which is
assigned at its first write or row lock. After each kill the log must be
gap-free with no key twice, the SQL projection (caught up by the next
process, as a restart would) must equal a fresh in-memory fold of the log,
and the feed must be valid Atom.
"""

from __future__ import annotations

import itertools
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from aggregator.config import load_settings
from aggregator.publish.files import render_merged
from aggregator.store import open_store
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryReadModel
from tests.atom_checks import atom_problems
from tests.conftest import SEED_SOURCES, config_text
from tests.service_process import clean_env
from tests.support import REPO, SEEDS

KILLS = 20
MAX_ATTEMPTS = 60
WATCH_SECONDS = 20.0  # a collect that never writes within this long fails the test


COPIES = 3
EDITED_PHRASES = (("aljazeera", "calling on both sides"), ("dailyknight", "state of war"))


def copy_name(n: int, seed: str) -> str:
    return f"{n}-{SEED_SOURCES[seed][0]}"


def edit_every_source(seeds: Path, round_number: int) -> None:
    """Give every copy of the seeds a changed update, so each collect appends revisions."""
    for n in range(COPIES):
        for seed, phrase in (
            ("aljazeera", "calling on both sides"),
            ("dailyknight", "state of war"),
        ):
            text = (SEEDS / SEED_SOURCES[seed][0]).read_text(encoding="utf-8")
            (seeds / copy_name(n, seed)).write_text(
                text.replace(phrase, f"{phrase} (round {round_number})"), encoding="utf-8"
            )


def sqlite_writer_watch(storage: str) -> Callable[[int], bool]:
    """Whether some process holds the SQLite file's write lock right now."""

    def writing(_pid: int) -> bool:
        probe = sqlite3.connect(make_url(storage).database or "", timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                return True
            raise
        else:
            probe.execute("ROLLBACK")
            return False
        finally:
            probe.close()

    return writing


def postgres_writer_watch(storage: str) -> tuple[Callable[[int], bool], Callable[[], None]]:
    """Whether the process `pid` has a PostgreSQL transaction that has written or
    locked a row (it holds a transaction id); and a function to close the watch."""
    engine = create_engine(storage)
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = :name AND backend_xid IS NOT NULL"
    )

    def writing(pid: int) -> bool:
        return bool(connection.execute(query, {"name": f"aggregator (pid {pid})"}).scalar())

    def close() -> None:
        connection.close()
        engine.dispose()

    return writing, close


def check_log_and_projection(config: Path) -> int:
    """The invariants after a crash; returns the log's head."""
    settings = load_settings(config, environ={})
    store = open_store(settings.database_url)
    try:
        records = list(store.log.read())
        assert [r.position for r in records] == list(range(1, len(records) + 1))
        assert len({r.event_key for r in records}) == len(records)
        assert store.log.head() == len(records)
        catch_up(store.log, store.read_model)  # what the restarted collector does first
        fresh = MemoryReadModel()
        catch_up(store.log, fresh)
        assert store.read_model.checkpoint() == fresh.checkpoint() == len(records)
        document = render_merged(settings, store.read_model)
        assert document == render_merged(settings, fresh)
        assert atom_problems(document) == []
        return len(records)
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sigkill_mid_collect_never_loses_or_doubles_an_event(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    storage = (
        f"sqlite:///{tmp_path / 'crash.db'}"
        if kind == "sqlite"
        else str(request.getfixturevalue("postgres_schema_url"))
    )
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    config = tmp_path / "crash.toml"
    urls = {
        f"{seed}-{n}": (seeds / copy_name(n, seed)).as_uri()
        for n in range(COPIES)
        for seed in SEED_SOURCES
    }
    config.write_text(config_text(storage, tmp_path / "feeds", urls), encoding="utf-8")
    command = [sys.executable, "-m", "aggregator", "--config", str(config), "collect"]
    if kind == "sqlite":
        writing, close_watch = sqlite_writer_watch(storage), lambda: None
    else:
        writing, close_watch = postgres_writer_watch(storage)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command, cwd=REPO, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def next_write(process: subprocess.Popen[bytes]) -> bool:
        """Wait until `process` is seen inside a write transaction; False if it ended first."""
        deadline = time.monotonic() + WATCH_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            if writing(process.pid):
                return True
        return False

    def finish(process: subprocess.Popen[bytes]) -> None:
        process.wait(timeout=60)
        assert process.stderr is not None
        assert b"Traceback" not in process.stderr.read()
        process.stderr.close()

    chance = random.Random(20201927)
    kills = attempts = 0
    try:
        # Two uninterrupted collects first: the first adds every entry, the
        # second is a typical round (revisions only) and measures its writing
        # window, from its first write transaction to its last, so that the
        # kills can be spread over the appends rather than all landing in the
        # first one after the interpreter's start-up.
        for calibration in (-2, -1):
            edit_every_source(seeds, calibration)
            process = start()
            assert next_write(process)
            first_write = last_write = time.monotonic()
            while process.poll() is None:
                if writing(process.pid):
                    last_write = time.monotonic()
            finish(process)
            window = last_write - first_write
            assert process.returncode == 0
        heads = [check_log_and_projection(config)]
        while kills < KILLS and attempts < MAX_ATTEMPTS:
            attempts += 1
            edit_every_source(seeds, attempts)
            process = start()
            # The first write, a random part of the writing window, then the
            # next write transaction: the kill lands inside it.
            if next_write(process):
                time.sleep(chance.uniform(0, 0.8) * window)
                if next_write(process):
                    process.send_signal(signal.SIGKILL)
                    kills += 1
            finish(process)
            heads.append(check_log_and_projection(config))
    finally:
        close_watch()
    assert kills == KILLS, f"only {kills} of {attempts} collects were killed while writing"
    assert heads == sorted(heads) and heads[-1] > 0
    # Kills landed at different points of a collect: some after part of its
    # appends had committed (a whole round appends 12 events: a revision and a
    # poll per source), the moment a torn append would show.
    grown = [b - a for a, b in itertools.pairwise(heads)]
    print(f"events appended per killed round: {grown}")
    assert any(0 < delta < 12 for delta in grown), grown
    # A last, uninterrupted collect completes and leaves the same invariants.
    shutil.rmtree(tmp_path / "feeds", ignore_errors=True)
    finished = subprocess.run(command, cwd=REPO, env=clean_env(), capture_output=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    check_log_and_projection(config)
