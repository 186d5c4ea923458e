"""Issue 17: the aggregator as whole processes, each beside its baseline in the same run.

1,000 generated RSS feeds of 20 items (`bench.fanout`; 20 feeds with
`--quick`) are served by a private nginx on 127.0.0.1, and every side polls
them 8 at once. Every figure is a real command in a child process, timed
from its start to its exit (interpreter, imports and all, as a user meets
it), and every baseline is a process too (`bench.baselines`):

1. `aggregator collect` (`[service] fetches = 8`, `per_host = 8`), cold on
   a fresh store and then warm (every feed answers 304), beside the peer:
   the `reader` library in its own process, cold (`make_reader`, `add_feed`
   for each URL, `update_feeds`) and warm (`update_feeds` again). The whole
   processes are compared, and ours also with reader's `update_feeds` alone,
   the issue's baseline. Target: ours / reader <= 0.5, cold and warm.
2. The floors: a bare httpx loop of the same GETs, parsing each body with
   feedparser (beside the cold collect), and of the same conditional GETs
   (beside the warm one). Target: within 1.5x of each.
3. `aggregator run`, every source on a 1-minute interval (3 s with
   `--quick`), for three rounds (`bench.rounds`): how long until every source
   was polled once (target: within reader's cold `update_feeds`), the CPU
   seconds of a round of 304 polls (target: at most half of reader's warm
   `update_feeds`), how late polls begin after they are due (target: every
   one within 5 s) and the peak memory of its processes (target: < 200 MB).
4. The same feeds with near-identical texts (groups of 20 outlets repeating
   one event's paragraph, `bench.fanout.feed_bytes(outlets=20)`): collect
   cold and warm, the run's first round and its memory, each beside the
   varied case. Target: within 1.5x.
5. The output files a warm collect rewrote (a new mtime or inode; seen from
   outside, whatever collect says about itself). Target: 0.

A side that did not do its whole job (a failed poll, an entry missing, a
warm poll that was not a 304, a broken feed in reader) is refused, not
timed. Collects and baselines run `runs` times, the order of the sides
reversed every other run, and the medians are kept; each `aggregator run`
once.

    python -m bench.process [--quick]
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench.baselines import CONCURRENCY
from bench.child import Finished, aggregator_command, run_timed
from bench.common import Figure, main, median, p95
from bench.fanout import ITEMS, Corpus, served_feeds, write_config
from bench.rounds import RunResult, event_counts, measure_run

NAME = "process"
REQUIRES = ("nginx",)
# Figure names begin with these (the smoke test looks for a row per name).
FIGURES = (
    "collect cold, whole process",
    "collect cold beside reader's update_feeds alone",
    "collect warm, whole process",
    "collect warm beside reader's update_feeds alone",
    "collect cold beside its floor",
    "collect warm beside its floor",
    "run: every source polled once",
    "run: CPU of a round of 304 polls",
    "run: polls begun after their due time",
    "run: peak RSS",
    "near-identical texts: collect cold",
    "near-identical texts: collect warm",
    "near-identical texts: run, every source polled once",
    "near-identical texts: run, peak RSS",
    "files rewritten by a warm collect",
)
FULL_SOURCES, QUICK_SOURCES = 1000, 20
FULL_RUNS, QUICK_RUNS = 3, 1
FULL_INTERVAL, QUICK_INTERVAL = 60.0, 3.0
OUTLETS = 20
SERVICE = {"fetches": CONCURRENCY, "per_host": CONCURRENCY}
TIMEOUT = 1800.0  # seconds for any one process; far past what a working one takes
PEER_RATIO, FLOOR_RATIO, NEAR_RATIO = 0.5, 1.5, 1.5
LATE_TARGET, RSS_TARGET_MB = 5.0, 200.0


def baseline_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.baselines", *args]


def _child_report(done: Finished) -> dict[str, Any]:
    """The JSON line a `bench.baselines` child ends with."""
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def check_collect(done: Finished, database: Path, sources: int, cold: bool) -> None:
    """Every source reported as polled the way it should have been, and the log agrees."""
    expected = f"new {ITEMS}, revised 0, unchanged 0, errors 0" if cold else "not modified"
    lines = [line.split(None, 1) for line in done.stdout.splitlines() if line.startswith("news-")]
    wrong = [" ".join(line) for line in lines if line[1:] != [expected]]
    if len(lines) != sources or wrong:
        raise RuntimeError(f"collect reported {len(lines)} of {sources} sources, e.g. {wrong[:2]}")
    counts = event_counts(database)
    seen = (counts.get("EntryAdded"), counts.get("SourcePolled"), counts.get("SourceNotModified"))
    if seen != (sources * ITEMS, sources, None if cold else sources) or "SourceFailed" in counts:
        raise RuntimeError(f"after a {'cold' if cold else 'warm'} collect the log holds {counts}")


def _files(directory: Path) -> dict[Path, tuple[int, int]]:
    return {
        path: (stat.st_ino, stat.st_mtime_ns)
        for path in directory.rglob("*")
        if path.is_file()
        for stat in [path.stat()]
    }


@dataclass
class Measured:
    """Samples by side (seconds, or MB), filled run by run; what the figures need."""

    samples: defaultdict[str, list[float]]
    rewritten: list[list[str]]  # per warm collect, the output files it rewrote
    output_files: int = 0
    stories: dict[str, str] = field(default_factory=dict)  # a cold collect's word on stories


def measure(corpora: dict[str, Corpus], work: Path, runs: int) -> Measured:
    found = Measured(defaultdict(list), [])
    sources = len(corpora["varied"].urls)
    urls = work / "urls.txt"
    urls.write_text("\n".join(corpora["varied"].urls) + "\n", encoding="utf-8")

    def collect(kind: str, run: int) -> None:
        directory = work / f"collect-{kind}-{run}"
        config = write_config(directory, corpora[kind].urls, service=SERVICE)
        cold = run_timed(aggregator_command(config, "collect"), TIMEOUT)
        check_collect(cold, directory / "aggregator.db", sources, cold=True)
        before = _files(directory / "feeds")
        warm = run_timed(aggregator_command(config, "collect"), TIMEOUT)
        check_collect(warm, directory / "aggregator.db", sources, cold=False)
        after = _files(directory / "feeds")
        found.samples[f"{kind} cold"].append(cold.seconds)
        found.samples[f"{kind} warm"].append(warm.seconds)
        changed = [path for path, stamp in after.items() if before.get(path) != stamp]
        found.rewritten.append(sorted(str(path.relative_to(directory)) for path in changed))
        found.output_files = len(after)
        said = [line for line in cold.stdout.splitlines() if line.startswith("stories")]
        found.stories[kind] = said[0] if said else "nothing of stories"

    def peer(run: int) -> None:
        database = work / f"reader-{run}.sqlite"
        for mode in ("cold", "warm"):
            done = run_timed(baseline_command("reader", mode, str(database), str(urls)), TIMEOUT)
            report = _child_report(done)
            want = "updated" if mode == "cold" else "not_modified"
            if (report["feeds"], report[want], report["entries"]) != (
                sources,
                sources,
                sources * ITEMS,
            ) or (report["failed"] or report["broken"]):
                raise RuntimeError(f"reader {mode} did not update every feed: {report}")
            found.samples[f"reader {mode}"].append(done.seconds)
            found.samples[f"reader {mode} update"].append(report["update_seconds"])
            if mode == "cold":
                found.samples["reader peak MB"].append(report["peak_kb"] / 1024)

    def floors(run: int) -> None:
        etags = str(work / f"etags-{run}.json")
        cold = run_timed(baseline_command("get", "cold", str(urls), etags), TIMEOUT)
        if _child_report(cold)["entries"] != sources * ITEMS:
            raise RuntimeError(f"feedparser did not read every entry: {cold.stdout}")
        warm = run_timed(baseline_command("get", "warm", str(urls), etags), TIMEOUT)
        found.samples["get+parse cold"].append(cold.seconds)
        found.samples["get warm"].append(warm.seconds)

    for run in range(runs):
        jobs: list[Callable[[], None]] = [
            partial(collect, "varied", run),
            partial(peer, run),
            partial(collect, "near", run),
            partial(floors, run),
        ]
        for job in jobs if run % 2 == 0 else reversed(jobs):
            job()
    return found


def run(quick: bool) -> list[Figure]:
    count = QUICK_SOURCES if quick else FULL_SOURCES
    runs = QUICK_RUNS if quick else FULL_RUNS
    interval = QUICK_INTERVAL if quick else FULL_INTERVAL
    command = f"python -m bench.{NAME}" + (" --quick" if quick else "")
    with (
        served_feeds(count) as varied,
        served_feeds(count, outlets=OUTLETS) as near,
        tempfile.TemporaryDirectory(prefix="bench-process-") as t,
    ):
        work = Path(t)
        sizes = {k: c.total_bytes() / 1024 / count for k, c in (("varied", varied), ("near", near))}
        found = measure({"varied": varied, "near": near}, work, runs)
        service = {
            kind: measure_run(corpus.urls, work / f"run-{kind}", SERVICE, interval, ITEMS, TIMEOUT)
            for kind, corpus in (("varied", varied), ("near", near))
        }
    return figures(found, service, Sizes(count, runs, interval, sizes), command, quick)


@dataclass(frozen=True)
class Sizes:
    count: int
    runs: int
    interval: float
    feed_kb: dict[str, float]  # average size of a feed, by corpus


def figures(
    found: Measured, service: dict[str, RunResult], sizes: Sizes, command: str, quick: bool
) -> list[Figure]:
    import reader

    samples = found.samples
    size = f"{sizes.count:,} feeds x {ITEMS}, {CONCURRENCY} at once"
    peer = f"reader {reader.__version__}"
    corpus_note = (
        f"feeds served by nginx (1 worker, etag on) on 127.0.0.1: {sizes.feed_kb['varied']:.1f} kB "
        f"each on average, {sizes.feed_kb['near']:.1f} kB with near-identical texts "
        f"({OUTLETS} outlets to an event)"
    )

    def figure(
        name: str,
        value: float,
        unit: str,
        baseline_name: str,
        baseline: float,
        meaning: str,
        target: str,
        met: bool,
        notes: list[str],
        value_samples: list[float] | None = None,
        runs: int = sizes.runs,
    ) -> Figure:
        return Figure(
            benchmark=NAME,
            name=f"{name} ({size})",
            value=value,
            unit=unit,
            baseline_name=baseline_name,
            baseline=baseline,
            ratio=value / baseline if baseline else None,
            ratio_meaning=meaning,
            target=target,
            met=None if quick else met,
            runs=runs,
            command=command,
            samples=value_samples or [value],
            notes=[*notes, corpus_note],
        )

    def beside(name: str, ours: str, theirs: str, baseline_name: str, limit: float) -> Figure:
        value, baseline = median(samples[ours]), median(samples[theirs])
        return figure(
            name,
            value,
            "s",
            baseline_name,
            baseline,
            "our s / baseline s",
            f"ratio <= {limit:g}",
            value / baseline <= limit,
            [f"baseline samples: {_rounded(samples[theirs])}"],
            samples[ours],
        )

    varied, near = service["varied"], service["near"]
    late_max = max(varied.late)
    timer = varied.timer_late
    rewritten = max(found.rewritten, key=len)
    run_notes = [
        f"every source on a {sizes.interval:g} s interval, jitter 0, [service] fetches = "
        f"{CONCURRENCY}, per_host = {CONCURRENCY}, workers at its default; started on a fresh "
        "log, timed from the start of the process; one run",
    ]
    return [
        beside(
            FIGURES[0],
            "varied cold",
            "reader cold",
            f"{peer} cold process (make_reader, add_feed each, update_feeds)",
            PEER_RATIO,
        ),
        beside(
            FIGURES[1],
            "varied cold",
            "reader cold update",
            f"{peer} cold update_feeds(workers={CONCURRENCY}, scheduled=False) alone",
            PEER_RATIO,
        ),
        beside(
            FIGURES[2],
            "varied warm",
            "reader warm",
            f"{peer} warm process (make_reader, update_feeds)",
            PEER_RATIO,
        ),
        beside(
            FIGURES[3],
            "varied warm",
            "reader warm update",
            f"{peer} warm update_feeds(workers={CONCURRENCY}, scheduled=False) alone",
            PEER_RATIO,
        ),
        beside(
            FIGURES[4],
            "varied cold",
            "get+parse cold",
            "bare httpx GETs + feedparser.parse, process",
            FLOOR_RATIO,
        ),
        beside(
            FIGURES[5],
            "varied warm",
            "get warm",
            "bare httpx If-None-Match GETs (all 304), process",
            FLOOR_RATIO,
        ),
        figure(
            FIGURES[6],
            varied.first_round,
            "s",
            f"{peer} cold update_feeds alone",
            median(samples["reader cold update"]),
            "our s / reader s",
            "ratio <= 1",
            varied.first_round <= median(samples["reader cold update"]),
            run_notes,
            runs=1,
        ),
        figure(
            FIGURES[7],
            varied.round_cpu,
            "CPU s",
            f"{peer} warm update_feeds alone, wall s",
            median(samples["reader warm update"]),
            "our CPU s / reader wall s",
            f"ratio <= {PEER_RATIO:g}",
            varied.round_cpu <= PEER_RATIO * median(samples["reader warm update"]),
            [
                "the CPU of the service's process group (extraction workers included), read "
                "from /proc: its polls, and whatever else it did meanwhile (its followers: "
                "stories, publishing)",
                *varied.cpu_notes,
            ],
            runs=1,
        ),
        figure(
            f"{FIGURES[8]}, rounds 2-3: max (p95 {p95(varied.late):.2f} s)",
            late_max,
            "s",
            f"a bare asyncio timer beside it: max (p95 {timer['p95']:.4f} s)",
            timer["max"],
            "our max / timer max",
            f"every poll within {LATE_TARGET:g} s",
            late_max <= LATE_TARGET,
            [
                "due = the previous poll's start + the interval; a poll begins when its "
                f"request does; {len(varied.late)} polls",
                f"the bare timer woke {timer['ticks']:.0f} times, every {0.1:g} s",
            ],
            runs=1,
        ),
        figure(
            FIGURES[9],
            varied.tree_peak_mb,
            "MB",
            f"{peer} cold process, peak RSS",
            median(samples["reader peak MB"]),
            "our MB / reader MB",
            f"< {RSS_TARGET_MB:.0f} MB, the service and its workers summed",
            varied.tree_peak_mb < RSS_TARGET_MB,
            varied.notes,
            runs=1,
        ),
        beside(FIGURES[10], "near cold", "varied cold", "varied texts", NEAR_RATIO),
        beside(FIGURES[11], "near warm", "varied warm", "varied texts", NEAR_RATIO),
        figure(
            FIGURES[12],
            near.first_round,
            "s",
            "varied texts",
            varied.first_round,
            "near-identical s / varied s",
            f"ratio <= {NEAR_RATIO:g}",
            near.first_round <= NEAR_RATIO * varied.first_round,
            [
                *run_notes,
                f"its round of 304 polls: {near.round_cpu:.1f} CPU s (varied: "
                f"{varied.round_cpu:.1f}); its polls at most {max(near.late):.2f} s late "
                f"(varied: {late_max:.2f})",
            ],
            runs=1,
        ),
        figure(
            FIGURES[13],
            near.tree_peak_mb,
            "MB",
            "varied texts",
            varied.tree_peak_mb,
            "near-identical MB / varied MB",
            f"ratio <= {NEAR_RATIO:g}",
            near.tree_peak_mb <= NEAR_RATIO * varied.tree_peak_mb,
            near.notes,
            runs=1,
        ),
        figure(
            FIGURES[14],
            len(rewritten),
            "files",
            "files in the output directory",
            found.output_files,
            "rewritten / all",
            "0",
            not rewritten,
            [
                f"per warm collect: {[len(files) for files in found.rewritten]}; "
                f"e.g. {rewritten[:5]}",
                "seen from outside: a file with a new mtime or inode after the warm collect",
                f"the cold collects said: {found.stories}",
            ],
            [float(len(files)) for files in found.rewritten],
            runs=len(found.rewritten),
        ),
    ]


def _rounded(samples: list[float]) -> list[float]:
    return [round(s, 3) for s in samples]


if __name__ == "__main__":
    main(run, NAME)
