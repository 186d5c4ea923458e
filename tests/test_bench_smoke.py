"""Each benchmark runs at its quick size and prints a row per figure.

Only proves the scripts work (the figures at this size mean nothing); the
real figures come from `make bench`. A benchmark whose outside tools (nginx,
wrk) are not installed is skipped, saying which. A module may declare
`REQUIRES` (programs it needs) and `FIGURES` (the start of each figure's
name); without `FIGURES` the test asks for at least one row.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from bench.common import REPO
from bench.nginx import INSTALL_HINT, missing_tools
from bench.run import BENCHMARKS
from tests.service_process import clean_env

TIMEOUT = 180  # seconds; each takes well under a minute at quick size


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_at_quick_size(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    absent = missing_tools(getattr(module, "REQUIRES", ()))
    if absent:
        pytest.skip(f"bench.{name} needs {' and '.join(absent)}, not installed ({INSTALL_HINT})")
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=clean_env(),
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-4000:]}"
    rows = [line for line in done.stdout.splitlines() if line.startswith(f"| {name} | ")]
    expected = getattr(module, "FIGURES", None)
    if expected is None:
        assert rows, done.stdout
        return
    for figure in expected:
        found = [row for row in rows if row.startswith(f"| {name} | {figure}")]
        assert len(found) == 1, f"no single row for {figure!r} in:\n{done.stdout}"
    assert len(rows) == len(expected), done.stdout
