"""`aggregator run` as a process, watched from outside for three rounds of polls.

The service is started on a fresh log, every source on one interval and
`jitter = "0s"`, so that a poll is due exactly one interval after the
previous poll of its source began (`ingest.polling.next_poll_at`; the
jitter is a delay the service adds on purpose, and with it on no lateness
could be told from it). Nothing inside it is asked while it runs, so that
what is measured is only the service's own work:

- its polls are read from its log, the SQLite file, read-only: a
  `SourcePolled`, `SourceNotModified` or `SourceFailed` per poll, whose
  `fetched_at` is when the poll's request began and whose `recorded_at` is
  when it was in the log. Round k is each source's k-th poll;
- its CPU time and peak memory, and those of its extraction workers (its
  process group), are read from /proc by a `bench.child.GroupSampler`;
- beside it, a bare asyncio timer process (`bench.baselines timer`) says how
  late a timer fires on this machine at the same time.

When every source has been polled three times, `/healthz` is asked once
(status ok, every source's last poll a 304) and the service is stopped with
SIGTERM. A run that did not do its job (a poll failed, a first poll did not
store every entry, a later one was not a 304) is refused.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from bench.child import GroupSampler, aggregator_command, clean_env
from bench.common import REPO
from bench.fanout import write_config
from bench.nginx import free_port, spawn, stop_group

ROUNDS = 3
POLL_TYPES = ("SourcePolled", "SourceNotModified", "SourceFailed")
STOP_GRACE = 120.0  # SIGTERM waits for the polls in flight and the last publishing
WATCH_EVERY = 1.0


@dataclass(frozen=True)
class Poll:
    source: str
    type: str
    fetched_at: float  # Unix time
    recorded_at: float
    added: int


@dataclass
class RunResult:
    first_round: float  # seconds from the start until every source was polled once
    round_cpu: float  # CPU seconds of the service's process group for one round of 304s
    cpu_notes: list[str]  # which round, and what else the service did then
    late: list[float]  # seconds after its due time each poll of rounds 2 and 3 began
    timer_late: dict[str, float]  # the bare timer's max and p95, seconds
    tree_peak_mb: float  # the sum over its process group
    notes: list[str]


def _unix(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _connect(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10.0)


def polls(database: Path) -> list[Poll]:
    """Every poll the log holds, in log order."""
    db = _connect(database)
    try:
        rows = db.execute(
            "SELECT source, type, payload, recorded_at FROM events"
            f" WHERE type IN ({', '.join('?' * len(POLL_TYPES))}) ORDER BY position",
            POLL_TYPES,
        ).fetchall()
    finally:
        db.close()
    found = []
    for source, kind, payload, recorded_at in rows:
        data = json.loads(payload)
        found.append(
            Poll(source, kind, _unix(data["fetched_at"]), _unix(recorded_at), data.get("added", 0))
        )
    return found


def event_counts(database: Path) -> dict[str, int]:
    """Events of each type in the log."""
    db = _connect(database)
    try:
        return dict(db.execute("SELECT type, COUNT(*) FROM events GROUP BY type").fetchall())
    finally:
        db.close()


def _polled_least(database: Path, sources: int) -> int:
    """How many times the least-polled source has been polled (0 before the log exists)."""
    try:
        db = _connect(database)
        try:
            counts = db.execute(
                "SELECT COUNT(*) FROM events"
                f" WHERE type IN ({', '.join('?' * len(POLL_TYPES))}) GROUP BY source",
                POLL_TYPES,
            ).fetchall()
        finally:
            db.close()
    except sqlite3.OperationalError:  # not made yet, or being migrated
        return 0
    return min((n for (n,) in counts), default=0) if len(counts) == sources else 0


def by_round(found: Sequence[Poll], sources: int) -> list[list[Poll]]:
    """Round k (from 0): the k-th poll of each source, for the first `ROUNDS`."""
    per_source: dict[str, list[Poll]] = {}
    for poll in found:
        per_source.setdefault(poll.source, []).append(poll)
    if len(per_source) != sources or min(map(len, per_source.values())) < ROUNDS:
        raise RuntimeError(f"not every one of {sources} sources was polled {ROUNDS} times")
    return [[seen[k] for seen in per_source.values()] for k in range(ROUNDS)]


def check_rounds(rounds: Sequence[Sequence[Poll]], items: int) -> None:
    """A service that did not do its job would time the wrong thing: refuse it."""
    for k, polled in enumerate(rounds):
        for poll in polled:
            if k == 0 and (poll.type != "SourcePolled" or poll.added != items):
                raise RuntimeError(f"first poll of {poll.source}: {poll.type}, added {poll.added}")
            if k > 0 and poll.type != "SourceNotModified":
                raise RuntimeError(f"poll {k + 1} of {poll.source} was a {poll.type}, not a 304")


def _await_rounds(
    process: subprocess.Popen[bytes], database: Path, sources: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while _polled_least(database, sources) < ROUNDS:
        if process.poll() is not None:
            raise RuntimeError(
                f"aggregator run exited ({process.returncode}) within {ROUNDS} rounds"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"aggregator run did not poll every source {ROUNDS} times in {timeout:g}s"
            )
        time.sleep(WATCH_EVERY)


def _check_health(port: int, sources: int) -> None:
    body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=60.0).json()
    states = body.get("sources", {})
    outcomes = {state["last_outcome"] for state in states.values()}
    if body.get("status") != "ok" or len(states) != sources or outcomes != {"not-modified"}:
        raise RuntimeError(f"/healthz: status {body.get('status')}, outcomes {outcomes}")


def _stories_logged(log: Path, started: float) -> list[str]:
    """When the service said it had linked stories (its JSON log lines), from its start:
    the stories follower's work is the service's too, and may run into a round."""
    said = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"stories linked"' in line:
            record = json.loads(line)
            said.append(f"{_unix(record['time']) - started:.0f} s: {record['entries']} entries")
    return said


def _round_cpu(
    rounds: Sequence[Sequence[Poll]], found: Sequence[Poll], sampler: GroupSampler
) -> tuple[float, list[str]]:
    """CPU seconds of one round of 304 polls, and how it was had.

    The round is the first of the 304 rounds (2, or 3 when round 1 was still
    running when round 2 began, so that cold polls would count in it): the
    process group's CPU from its first poll's start to its last poll's end,
    divided among the polls of any round in that window and multiplied by
    the sources (when rounds overlap, the window also holds some of the next)."""
    sources = len(rounds[0])
    cold_end = max(poll.recorded_at for poll in rounds[0])
    for k in range(1, ROUNDS):
        start = min(poll.fetched_at for poll in rounds[k])
        end = max(poll.recorded_at for poll in rounds[k])
        if start >= cold_end:
            break
    inside = sum(1 for poll in found if start <= poll.fetched_at and poll.recorded_at <= end)
    spent = sampler.cpu_between(start, end)
    notes = [
        f"round {k + 1}: {spent:.2f} CPU s over {end - start:.1f} s for the {inside} polls "
        f"begun and ended in it, counted for {sources}"
    ]
    if start < cold_end:
        notes.append(
            f"round {k + 1} began {cold_end - start:.1f} s before round 1 ended: "
            "cold polls counted in it"
        )
    return spent * sources / inside, notes


def _memory(sampler: GroupSampler, pid: int) -> tuple[float, str]:
    """The peak RSS of the service and its other processes summed (MB), and their parts."""
    main_kb = sampler.peaks[pid][1]
    others = sorted((what, kb) for other, (what, kb) in sampler.peaks.items() if other != pid)
    note = (
        f"peak RSS (VmHWM) of the service {main_kb / 1024:.0f} MB and of its "
        f"{len(others)} other processes: "
        + ", ".join(f"{what} {kb / 1024:.0f}" for what, kb in others)
        + " MB (a forkserver's forks are the extraction workers); the figure sums them as if "
        f"they peaked at once; the largest sum of their Pss, sampled every {sampler.every:g} s: "
        f"{sampler.pss_peak_kb / 1024:.0f} MB"
    )
    return (main_kb + sum(kb for _, kb in others)) / 1024, note


def measure_run(
    urls: Sequence[str],
    work: Path,
    service: Mapping[str, int | str],
    interval: float,
    items: int,
    timeout: float,
) -> RunResult:
    """Start `aggregator run` on a fresh log in `work`, watch three rounds, stop it."""
    sources = len(urls)
    table = {**service, "jitter": "0s"}
    config = write_config(work, urls, service=table, interval=f"{interval:g}s")
    database = work / "aggregator.db"
    port = free_port()
    command = aggregator_command(
        config, "run", "--host", "127.0.0.1", "--port", str(port), "--log-format", "json"
    )
    timer_out = work / "timer.stdout"
    with (work / "run.stdout").open("wb") as out, (work / "run.stderr").open("wb") as err:
        started = time.time()
        process = spawn(command, out, err, env=clean_env(), cwd=REPO)
    with timer_out.open("wb") as out, (work / "timer.stderr").open("wb") as err:
        timer = spawn([sys.executable, "-m", "bench.baselines", "timer"], out, err, cwd=REPO)
    try:
        with GroupSampler(process.pid) as sampler:
            _await_rounds(process, database, sources, timeout)
            _check_health(port, sources)
            stop_group(timer)
            stopping, stopping_at = time.perf_counter(), time.time()
            stop_group(process, STOP_GRACE)
            stopped = time.perf_counter() - stopping
    finally:
        stop_group(timer)
        stop_group(process)
    found = polls(database)
    rounds = by_round(found, sources)
    check_rounds(rounds, items)
    entries = event_counts(database).get("EntryAdded", 0)
    if entries != sources * items:
        raise RuntimeError(f"the log holds {entries} entries, expected {sources * items}")
    round_cpu, cpu_notes = _round_cpu(rounds, found, sampler)
    late = [
        later.fetched_at - earlier.fetched_at - interval
        for k in range(1, ROUNDS)
        for earlier, later in zip(rounds[k - 1], rounds[k], strict=True)
    ]
    cpu_notes.append(
        "the service logged 'stories linked' at (from its start, SIGTERM at "
        f"{stopping_at - started:.0f} s): {_stories_logged(work / 'run.stderr', started)}"
    )
    tree_mb, memory_note = _memory(sampler, process.pid)
    notes = [f"SIGTERM to exit: {stopped:.1f} s (exit status {process.returncode})", memory_note]
    return RunResult(
        first_round=max(poll.recorded_at for poll in rounds[0]) - started,
        round_cpu=round_cpu,
        cpu_notes=cpu_notes,
        late=late,
        timer_late=json.loads(timer_out.read_text(encoding="utf-8")),
        tree_peak_mb=tree_mb,
        notes=notes,
    )
