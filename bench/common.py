"""What every benchmark shares: timing, machine facts, figures and their report.

Machines here are shared and noisy, so a figure is never reported alone: each
is measured beside a baseline doing comparable work in the same run, several
times, and the median of the runs is kept with the ratio of the two. A
benchmark module exposes `run(quick: bool) -> list[Figure]`; `quick` means a
tiny size that only proves the code runs (the test suite's smoke test, and
`make bench-quick`).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "var" / "bench"


@dataclass
class Figure:
    """One reported figure: a value, its baseline from the same run, and the target."""

    benchmark: str  # the module, e.g. "ingest"
    name: str  # what was measured, for a person
    value: float
    unit: str
    baseline_name: str
    baseline: float | None
    ratio: float | None  # how `ratio_meaning` says: e.g. our time / the baseline's time
    ratio_meaning: str
    target: str  # the target in words, e.g. ">= 50,000 entries/s and ratio <= 3"
    met: bool | None  # None: no target, or not checkable at this size
    runs: int
    command: str
    samples: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def timed(
    action: Callable[[], Any], runs: int, setup: Callable[[], Any] | None = None
) -> list[float]:
    """Wall seconds of `runs` calls of `action`, each after a fresh `setup` (not timed)."""
    samples = []
    for _ in range(runs):
        if setup is not None:
            setup()
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p95(samples: Sequence[float]) -> float:
    """The 95th percentile, within the samples (never extrapolated past the largest)."""
    if len(samples) < 2:
        return max(samples, default=0.0)
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def machine() -> dict[str, Any]:
    """The facts a figure needs beside it to mean anything."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.release()}",
    }


# Runs a module as __main__, then prints this process's own peak resident set.
_WITH_PEAK = (
    "import runpy, sys; sys.argv = sys.argv[1:]; "
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True); "
    "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]; "
    "print(f'VmHWM-kB {status}')"
)


def peak_rss_mb(module: str, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Peak resident memory (MB) of `python -m module args` run in a child process.

    Read from the child's own /proc/self/status (VmHWM) as it ends, not from
    getrusage(RUSAGE_CHILDREN): on Linux a child started by vfork and exec
    can report its parent's high-water mark, so that figure never reads below
    the benchmark process's own peak.
    """
    done = subprocess.run(
        [sys.executable, "-c", _WITH_PEAK, module, *args], cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("VmHWM-kB "))
    return int(line.split()[1]) / 1024, done


def report(figures: Sequence[Figure], name: str) -> Path:
    """Write the figures as JSON and as a Markdown table under var/bench; return the JSON."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine(), "figures": [asdict(f) for f in figures]}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(table(figures), encoding="utf-8")
    return path


def table(figures: Sequence[Figure]) -> str:
    facts = machine()
    lines = [
        f"Machine: {facts['cores']} cores, {facts['cpu']}, Python {facts['python']}, "
        f"{facts['system']}",
        "",
        "| benchmark | figure | value | baseline | ratio | target | met | runs |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in figures:
        baseline = "-" if f.baseline is None else f"{_number(f.baseline)} ({f.baseline_name})"
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f} ({f.ratio_meaning})"
        met = {True: "yes", False: "NO", None: "-"}[f.met]
        lines.append(
            f"| {f.benchmark} | {f.name} | {_number(f.value)} {f.unit} | {baseline} | {ratio} "
            f"| {f.target} | {met} | {f.runs} |"
        )
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def main(run: Callable[[bool], list[Figure]], name: str) -> None:
    """`python -m bench.<name> [--quick]`: run, print the table, write the results."""
    quick = "--quick" in sys.argv[1:]
    figures = run(quick)
    print(table(figures), end="")
    print(f"results: {report(figures, name + ('-quick' if quick else ''))}")
