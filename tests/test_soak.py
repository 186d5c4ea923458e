"""A soak of the running service: a good outlet beside slow, huge, churning,
spoofing, flooding and broken sources, for a few minutes.

`aggregator run` is started as a real process, every source on a 2 s
interval, against the servers of `tests.soak_sources`. While it runs, a
reader asks for `/feed.atom` twice a second, as a feed reader left open
would, and notes how long each answer took, whether it parsed, whether any
id appeared twice, and when each of the good outlet's updates first showed.
Then the service gets SIGTERM, and the log is replayed.

What it checks is issue 16's promise, with the figures printed (run with
`-s` to see them):
* the good outlet's updates reach the feed within its interval plus a few
  seconds, and all of the last minute's are in the merged feed at the end;
* no reader waited on a poll, a render or a lock (each answer in about a
  second at most);
* the service's peak memory;
* no `atom:id` twice in any answer, and no spoofed title under the good
  outlet's ids;
* the churning sources are damped, and the log's growth per source shows in
  `/metrics`;
* SIGTERM stops it within `shutdown_grace` plus a few seconds, with exit
  status 0, no traceback, and nothing recorded after the stop;
* a replay of the log gives the same documents, byte for byte.

The bounds on time leave room for a shared two-core machine; the figures
themselves are what the closing notes report.
"""

from __future__ import annotations

import contextlib
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from lxml import etree

from aggregator.core.events import parse_time
from tests.http_fixture import serve
from tests.service_process import ATOM, cli, events, free_port, start_service
from tests.soak_sources import GoodOutlet, formats, good_link, hostile_routes

SOAK_SECONDS = 150.0
INTERVAL = 2.0
GRACE = 5.0
# The figures: a poll no later than its interval plus a few seconds;
# no reader waiting more than a second. Doubled for a shared machine.
LAG_BOUND = INTERVAL + 8.0
LATENCY_BOUND = 2.0
# The service was seen at 1.6 GB under such sources; most of what is left is
# the extraction workers' interpreters (one per `workers`, about 70 MB each).
MEMORY_BOUND_MB = 300
TREE_BOUND_MB = 700


@dataclass
class Reading:
    """What the reader saw while the service ran."""

    latencies: list[float] = field(default_factory=list)
    unparsable: int = 0
    duplicates: list[str] = field(default_factory=list)
    defaced: list[str] = field(default_factory=list)
    first_seen: dict[int, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


@dataclass
class Soak:
    good: GoodOutlet
    reading: Reading
    peak_rss_mb: float
    peak_tree_mb: float
    metrics: str
    final_feed: bytes
    final_at: float
    stop_seconds: float | None
    stop_status: int | None
    stopped_at: float
    stderr: str
    log: list[dict[str, object]]
    published: dict[str, bytes]
    replayed: dict[str, bytes]


def _config(tmp_path: Path, port: int, urls: dict[str, str]) -> Path:
    sources = [(path.strip("/"), url, formats(path)) for path, url in sorted(urls.items())]
    tables = "".join(
        f'\n[[sources]]\nname = "{name}"\ntitle = "{name.title()}"\nurl = "{url}"\n'
        f'format = "{fmt}"\ninterval = "{INTERVAL:g}s"\n'
        for name, url, fmt in sources
    )
    text = f"""
[storage]
url = "sqlite:///{tmp_path / "soak.db"}"

[feed]
title = "Soak"
id = "tag:example.org,2026:soak"
base_url = "http://127.0.0.1:{port}"
output_dir = "{tmp_path / "feeds"}"

[service]
host = "127.0.0.1"
port = {port}
shutdown_grace = "{GRACE:g}s"
{tables}"""
    path = tmp_path / "soak.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _read(base: str, good: GoodOutlet, reading: Reading, stop: threading.Event) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                answer = client.get(f"{base}/feed.atom")
            except httpx.HTTPError as exc:
                reading.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            reading.latencies.append(time.perf_counter() - started)
            seen_at = time.monotonic()
            try:
                root = etree.fromstring(answer.content)
            except etree.XMLSyntaxError:
                reading.unparsable += 1
                continue
            ids = Counter(entry.findtext(f"{ATOM}id") for entry in root.iter(f"{ATOM}entry"))
            reading.duplicates += [i or "" for i, n in ids.items() if n > 1]
            for entry in root.iter(f"{ATOM}entry"):
                entry_id, title = entry.findtext(f"{ATOM}id"), entry.findtext(f"{ATOM}title")
                for n in range(1, good.count() + 1):
                    if entry_id == good_link(n):
                        if title != f"Good update {n}":
                            reading.defaced.append(f"{entry_id}: {title}")
                        reading.first_seen.setdefault(n, seen_at)
            stop.wait(0.5)


def _rss_mb(pid: int) -> tuple[float, float]:
    """The resident memory of `pid` alone, and with its children (the
    forkserver and the extraction workers), in MB."""
    sizes: list[int] = []
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        sizes += [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")]
    return (sizes[0] / 1024 if sizes else 0.0), sum(sizes) / 1024


def _documents(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Soak]:
    tmp_path = tmp_path_factory.mktemp("soak")
    logs = tmp_path / "logs"
    logs.mkdir()
    good = GoodOutlet()
    routes = hostile_routes(good)
    with contextlib.ExitStack() as servers:
        # A host each, as outlets have: the per-host limit is not what is tested.
        urls = {
            path: servers.enter_context(serve({path: route})) + path
            for path, route in {"/good": good, **routes}.items()
        }
        port = free_port()
        config = _config(tmp_path, port, urls)
        service = start_service(config, "run", port, logs)
        base = f"http://127.0.0.1:{port}"
        reading, stop = Reading(), threading.Event()
        reader = threading.Thread(target=_read, args=(base, good, reading, stop), daemon=True)
        reader.start()
        peak, peak_tree = 0.0, 0.0
        try:
            deadline = time.monotonic() + SOAK_SECONDS
            while time.monotonic() < deadline:
                service.check_alive()
                alone, tree = _rss_mb(service.pid)
                peak, peak_tree = max(peak, alone), max(peak_tree, tree)
                time.sleep(1)
            metrics = httpx.get(f"{base}/metrics", timeout=30).text
            final_at = time.monotonic()
            final = httpx.get(f"{base}/feed.atom", timeout=30).content
            stop.set()
            reader.join(60)
            stopped_at = time.time()
            started = time.monotonic()
            status = service.signal(signal.SIGTERM, timeout=GRACE + 30)
            stop_seconds = time.monotonic() - started if status is not None else None
        finally:
            stop.set()
            service.kill()
    published = _documents(tmp_path / "feeds")
    log = events(config)
    replay = cli(config, "replay")
    assert replay.returncode == 0, replay.stderr
    yield Soak(
        good=good,
        reading=reading,
        peak_rss_mb=peak,
        peak_tree_mb=peak_tree,
        metrics=metrics,
        final_feed=final,
        final_at=final_at,
        stop_seconds=stop_seconds,
        stop_status=status,
        stopped_at=stopped_at,
        stderr=service.stderr(),
        log=log,
        published=published,
        replayed=_documents(tmp_path / "feeds"),
    )


def test_the_good_outlet_keeps_its_pace(soak: Soak) -> None:
    lags = [
        soak.reading.first_seen[n] - appeared
        for n, appeared in soak.good.published()
        if n in soak.reading.first_seen
    ]
    # Every update the outlet published before the last interval reached the feed.
    published = [n for n, at in soak.good.published() if at < soak.good.started + SOAK_SECONDS - 15]
    missing = [n for n in published if n not in soak.reading.first_seen]
    print(
        f"\ngood outlet: {len(lags)} updates,"
        f" lag median {statistics.median(lags):.1f} s, max {max(lags):.1f} s"
    )
    assert not missing, f"never shown: {missing}"
    assert max(lags) <= LAG_BOUND, sorted(lags)[-5:]


def test_the_last_minute_of_the_good_outlet_is_in_the_merged_feed(soak: Soak) -> None:
    root = etree.fromstring(soak.final_feed)
    ids = {entry.findtext(f"{ATOM}id") for entry in root.iter(f"{ATOM}entry")}
    # The last minute's, but those too young to have been polled by then.
    recent = [
        n
        for n, appeared in soak.good.published()
        if soak.final_at - 60 <= appeared <= soak.final_at - LAG_BOUND
    ]
    assert len(recent) >= 4
    assert [n for n in recent if good_link(n) not in ids] == []


def test_readers_never_wait(soak: Soak) -> None:
    latencies = sorted(soak.reading.latencies)
    print(
        f"\nreader: {len(latencies)} answers, median {statistics.median(latencies) * 1000:.0f} ms,"
        f" max {latencies[-1] * 1000:.0f} ms"
    )
    assert soak.reading.failures == []
    assert soak.reading.unparsable == 0
    assert latencies[-1] <= LATENCY_BOUND


def test_memory_stays_bounded(soak: Soak) -> None:
    print(
        f"\npeak resident memory: service {soak.peak_rss_mb:.0f} MB,"
        f" with its extraction workers {soak.peak_tree_mb:.0f} MB"
    )
    assert soak.peak_rss_mb <= MEMORY_BOUND_MB
    assert soak.peak_tree_mb <= TREE_BOUND_MB


def test_no_id_twice_and_no_outlet_spoofed(soak: Soak) -> None:
    assert soak.reading.duplicates == []
    assert soak.reading.defaced == []
    spoofed = [e for e in soak.log if e["source"] == "spoof" and e["type"] == "EntryAdded"]
    assert spoofed, "the spoofing source's entries are kept, under its own ids"


def test_churn_is_damped_and_growth_shows_in_metrics(soak: Soak) -> None:
    revisions = Counter(e["source"] for e in soak.log if e["type"] == "EntryRevised")
    print(f"\nrevisions per churning source: {dict(revisions)}")
    polls = Counter(e["source"] for e in soak.log if e["type"] == "SourcePolled")
    for name in ("churn0", "churn1", "churn2"):
        assert polls[name] > 10, polls
        # Undamped, every poll revised all 20 items.
        assert revisions[name] <= 2 * 20, revisions
        assert f'source="{name}"' in soak.metrics


def test_sigterm_stops_cleanly_and_records_nothing_after(soak: Soak) -> None:
    print(f"\nstop: exit status {soak.stop_status} after {soak.stop_seconds} s")
    assert soak.stop_status == 0, soak.stderr[-3000:]
    assert soak.stop_seconds is not None and soak.stop_seconds <= GRACE + 5
    assert "Traceback" not in soak.stderr
    assert [e["position"] for e in soak.log] == list(range(1, len(soak.log) + 1))
    last = max(parse_time(str(e["recorded_at"])) for e in soak.log)
    assert last.timestamp() <= soak.stopped_at + GRACE + 1


def test_replay_gives_the_same_documents(soak: Soak) -> None:
    assert soak.replayed.keys() == soak.published.keys()
    assert [name for name in soak.published if soak.published[name] != soak.replayed[name]] == []
