"""Whole processes, as a user meets them: one run to its end and timed, or a
running one's CPU and memory read from outside, in /proc.

A figure of `bench.process` is a real command in a child process, and so is
each baseline it stands beside: interpreter start, imports and exit count on
both sides, as they do for whoever types the command. A child runs in a
process group of its own (`bench.nginx.spawn`), which is also how its own
children (the service's extraction workers) are found: by their group.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from bench.common import REPO
from bench.nginx import spawn, stop_group

_TICKS = os.sysconf("SC_CLK_TCK")


def clean_env() -> dict[str, str]:
    """This environment without the developer's own AGGREGATOR_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}


def aggregator_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "aggregator", "--config", str(config), *args]


@dataclass(frozen=True)
class Finished:
    seconds: float  # wall time from the start to the exit of the child
    stdout: str
    stderr: str


def run_timed(args: Sequence[str], timeout: float) -> Finished:
    """Run `args` to their end in a process group of their own; a child that fails
    or outlives `timeout` is a RuntimeError carrying what it printed.

    The time ends when the child exits; whatever it left in its group (a
    forkserver on its way out) is stopped after that, not counted."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = spawn(args, out, err, env=clean_env(), cwd=REPO)
        try:
            code = process.wait(timeout=timeout)
            seconds = time.perf_counter() - started
        except subprocess.TimeoutExpired:
            code, seconds = None, timeout
        finally:
            stop_group(process)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if code != 0:
        outcome = f"ran past {timeout:g}s" if code is None else f"exited {code}"
        raise RuntimeError(f"{' '.join(args[2:])} {outcome}:\n{stdout[-2000:]}\n{stderr[-3000:]}")
    return Finished(seconds, stdout, stderr)


@dataclass(frozen=True)
class _Stat:
    name: str
    group: int
    cpu: float  # its own user + system seconds, and those of children it has reaped


def _stat(pid: str) -> _Stat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone since the directory was listed
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state, ppid, pgrp, ..., utime (11), stime, cutime, cstime.
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return _Stat(name, int(fields[2]), ticks / _TICKS)


def _memory_kb(pid: str) -> tuple[int, int] | None:
    """(VmHWM, Pss) of a process, kB; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    return _field_kb(status, "VmHWM:"), _field_kb(rollup, "Pss:")


def _field_kb(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name):
            return int(line.split()[1])
    return 0


def _label(pid: str, name: str) -> str:
    """What a process is: the multiprocessing part it runs (`forkserver`, whose
    forks it also names, `resource_tracker`), else its command name."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return name
    found = re.search(r"multiprocessing\.(\w+)", command)
    return found.group(1) if found else name


@dataclass
class GroupSampler:
    """Every `every` seconds, on a thread of its own: the CPU seconds of every
    process in group `group` (a process that ends moves into its parent's
    reaped children's time, so the sum does not drop), each one's peak
    resident set (VmHWM) as last seen before it ended, and the largest sum of
    their proportional sets (Pss: a page shared by n of them counts 1/n in
    each, so forks of one server are not counted n times over).

    Read from /proc: nothing inside the measured processes changes."""

    group: int
    every: float = 0.2
    samples: list[tuple[float, float]] = field(default_factory=list)  # (Unix time, CPU s)
    peaks: dict[int, tuple[str, int]] = field(default_factory=dict)  # pid: (what, VmHWM kB)
    pss_peak_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> GroupSampler:
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.every):
                return

    def sample(self) -> None:
        when = time.time()
        cpu = 0.0
        pss = 0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            stat = _stat(pid)
            if stat is None or stat.group != self.group:
                continue
            cpu += stat.cpu
            memory = _memory_kb(pid)
            if memory is None:
                continue
            pss += memory[1]
            known = self.peaks.get(int(pid))
            if known is None or memory[0] >= known[1]:
                self.peaks[int(pid)] = (known[0] if known else _label(pid, stat.name), memory[0])
        if self.samples and cpu < self.samples[-1][1]:
            cpu = self.samples[-1][1]  # a child caught between its end and its reaping
        self.samples.append((when, cpu))
        self.pss_peak_kb = max(self.pss_peak_kb, pss)

    def cpu_at(self, when: float) -> float:
        """The group's CPU seconds at Unix time `when`, between the two samples around it."""
        times = [t for t, _ in self.samples]
        after = bisect_right(times, when)
        if after == 0:
            return self.samples[0][1]
        if after == len(self.samples):
            return self.samples[-1][1]
        (t0, c0), (t1, c1) = self.samples[after - 1], self.samples[after]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0)

    def cpu_between(self, start: float, end: float) -> float:
        return self.cpu_at(end) - self.cpu_at(start)
