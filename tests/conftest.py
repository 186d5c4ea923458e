"""Shared fixtures: seed copies, generated configs, a manual clock and stores.

Stores are real: SQLite files in the test's temporary directory, and
PostgreSQL when AGGREGATOR_TEST_POSTGRES_URL is set (each test gets its own
schema, dropped afterwards). Without that variable the PostgreSQL cases skip
and say why.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from aggregator.config import Settings, load_settings
from aggregator.store import open_store
from aggregator.store.sql import SqlStore
from tests.support import AJ_SEED, DK_SEED, SEEDS, ManualClock

POSTGRES_ENV = "AGGREGATOR_TEST_POSTGRES_URL"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    """A private copy of the seeds, so tests can edit them."""
    target = tmp_path / "seeds"
    target.mkdir()
    for name in (AJ_SEED, DK_SEED):
        shutil.copy(SEEDS / name, target / name)
    return target


def seed_config_text(seed_dir: Path, database: Path, output: Path, max_entries: int = 100) -> str:
    """The seed sources read as files from `seed_dir`."""
    urls = {
        "aljazeera": (seed_dir / AJ_SEED).as_uri(),
        "dailyknight": (seed_dir / DK_SEED).as_uri(),
    }
    return config_text(database, output, urls, max_entries=max_entries)


# Per seed blog: its file, and what configuration says about it.
SEED_SOURCES = {
    "aljazeera": (AJ_SEED, "Al Jazeera", "UTC"),
    "dailyknight": (DK_SEED, "The Daily Knight", "America/New_York"),
}


def source_table(name: str, seed: str, url: str, interval: str = "5m") -> str:
    """A [[sources]] table for the seed blog `seed` (a SEED_SOURCES key) at `url`.

    Titles, links, zones, dates and authors depend on the name and seed only,
    so entry ids agree whether the seeds are read as files or served live.
    """
    _, title, zone = SEED_SOURCES[seed]
    return f"""
[[sources]]
name = "{name}"
title = "{title}"
url = "{url}"
link = "https://example.org/{name}-live"
format = "liveblog-text"
interval = "{interval}"
timezone = "{zone}"
date = 2020-09-27
author = "{title}"
"""


def config_text(
    storage: Path | str,
    output: Path,
    urls: dict[str, str],
    *,
    max_entries: int = 100,
    interval: str = "5m",
    port: int = 8080,
) -> str:
    """A config of sources named after seed blogs ("aljazeera-2" is a copy of
    aljazeera) at `urls`; `storage` is an SQLite file or a database URL."""
    url = storage if isinstance(storage, str) else f"sqlite:///{storage}"
    sources = "".join(
        source_table(name, name.split("-")[0], location, interval)
        for name, location in urls.items()
    )
    return f"""
[storage]
url = "{url}"

[feed]
title = "Test feed"
id = "tag:example.org,2020:test"
base_url = "http://127.0.0.1:{port}"
max_entries = {max_entries}
output_dir = "{output}"

[service]
host = "127.0.0.1"
port = {port}
{sources}"""


@dataclass
class Project:
    """A config file, its seeds, database and output directory in one place."""

    root: Path
    config: Path
    seeds: Path
    database: Path
    output: Path

    def settings(self) -> Settings:
        return load_settings(self.config, environ={})


@pytest.fixture
def project(tmp_path: Path, seed_dir: Path) -> Project:
    database = tmp_path / "agg.db"
    output = tmp_path / "feeds"
    config = tmp_path / "aggregator.toml"
    config.write_text(seed_config_text(seed_dir, database, output), encoding="utf-8")
    return Project(tmp_path, config, seed_dir, database, output)


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV)


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = postgres_url()
    if not base:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def open_test_store(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> SqlStore:
    """A real SQL store of the given kind ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    return open_store(url, clock=clock)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[SqlStore]:
    """The SQL store on each real database this machine offers."""
    store = open_test_store(request.param, request, tmp_path, clock)
    yield store
    store.close()


@pytest.fixture(autouse=True)
def _no_ambient_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own AGGREGATOR_* variables must not leak into tests."""
    monkeypatch.delenv("AGGREGATOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
