"""`aggregator --help` and `aggregator sources` start without the libraries the
other commands need: the dispatch imports a command's handler module only
when that command runs (`cli.main.HANDLERS`, tests/test_layout.py).

Checked by what the process imports (`-X importtime`, through its
environment variable so that the console script is checked as well), not by
how long it takes: a time measures the machine the tests share as much as
the code. The figures are in CHANGELOG.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.support import REPO

# What one command or another needs, and `--help` none of.
LIBRARIES = frozenset(
    {
        "alembic",
        "apscheduler",
        "feedparser",
        "httpx",
        "lxml",
        "nh3",
        "prometheus_client",
        "pydantic",
        "sqlalchemy",
        "sqlmodel",
        "starlette",
        "uvicorn",
    }
)
MODULE = (sys.executable, "-m", "aggregator")  # aggregator/__main__.py
SCRIPT = Path(sys.executable).with_name("aggregator")  # pyproject's [project.scripts]


def libraries(command: tuple[str, ...], *args: str) -> set[str]:
    """The libraries of `LIBRARIES` that running the command imported."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    result = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env={**environ, "PYTHONPROFILEIMPORTTIME": "1"},
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    names = (
        line.rpartition("|")[2].strip().partition(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    )
    return LIBRARIES.intersection(names)


@pytest.mark.parametrize("command", [MODULE, (str(SCRIPT),)], ids=["python -m", "script"])
def test_help_imports_no_library_of_a_command(command: tuple[str, ...]) -> None:
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed (make install)")
    assert libraries(command, "--help") == set()
    assert libraries(command, "sources", "--help") == set()


def test_sources_imports_the_store_and_no_other_library(project: Project) -> None:
    config = ("--config", str(project.config))
    # Migrating a new database needs Alembic (and shows the check sees imports)...
    assert "alembic" in libraries(MODULE, *config, "db", "upgrade")
    # ...reading a migrated one needs the store's SQLModel tables and nothing else.
    assert libraries(MODULE, *config, "sources") == {"pydantic", "sqlalchemy", "sqlmodel"}
