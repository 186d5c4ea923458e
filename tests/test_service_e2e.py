"""`aggregator run` and `serve` end to end, with real parts only.

Real processes (`python -m aggregator ...`), real HTTP on 127.0.0.1, real
SQLite files and a real feed reader (lemon24/reader). The live fixture
replays the two seed blogs on an accelerated clock, the service polls it
every second, and the reader polls the service's merged feed as a subscriber
would.

One module-scoped scenario plays the whole virtual day once (about 20 s):
it starts the fixture and `run`, polls with the reader until every update is
out and served, watches a quiet spell after that, reads /healthz, /metrics
and the per-source feeds, then stops the service with SIGTERM. Each test
then asserts one aspect of what was recorded, or starts its own short
process over the log the scenario left.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import reader

from tests.atom_checks import atom_problems
from tests.conftest import Project, seed_config_text
from tests.service_process import (
    Process,
    atom_ids,
    cli,
    events,
    free_port,
    free_ports,
    get,
    live_config_text,
    start_fixture,
    start_service,
    wait_for,
)
from tests.support import AJ_SEED, DK_SEED, SEEDS

# The virtual day runs 08:38 (the fixture's default start) to 23:09 UTC, the
# last Daily Knight update: 14.5 virtual hours, 17.4 real seconds at 3000x.
SPEED = 3000.0
READER_EVERY = 0.7  # seconds between the reader's rounds
GROWTH_TIMEOUT = 120.0  # the whole day must be served well within this
QUIET_SECONDS = 3.5  # the spell watched after everything is out
STOP_TIMEOUT = 10.0
TOTAL, AJ_TOTAL, DK_TOTAL = 46, 40, 6
SOURCES = ("aljazeera", "dailyknight")
ENTRY_EVENTS = ("EntryAdded", "EntryRevised")


@dataclass
class Round:
    """One reader update of the merged feed, and what the service served just after."""

    at: float  # seconds since the service answered
    new: int
    modified: int
    not_modified: bool  # the service answered the reader's conditional GET with 304
    served: int  # entries in the service's merged feed after the round
    fixture_complete: bool


@dataclass
class Scenario:
    project: Project  # the seed files, collected one-shot into their own log
    root: Path
    live_config: Path
    live_output: Path
    fixture_port: int
    service_port: int
    fixture: Process
    service: Process
    rounds: list[Round] = field(default_factory=list)
    reader_ids: list[str] = field(default_factory=list)
    served_feed: bytes = b""
    source_feeds: dict[str, bytes] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    metrics: str = ""
    quiet_before: list[dict[str, Any]] = field(default_factory=list)
    quiet_after: list[dict[str, Any]] = field(default_factory=list)
    stop_status: int | None = None
    stop_seconds: float = 0.0
    feed_on_disk: bytes = b""
    output_files: list[str] = field(default_factory=list)

    @property
    def service_base(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"


def _fixture_complete(port: int) -> bool:
    response = get(f"http://127.0.0.1:{port}/")
    assert response is not None and response.status_code == 200
    sources = response.json()["sources"]
    return all(s["visible"] == s["total"] for s in sources.values())


def _served(base: str, path: str = "/feed.atom") -> bytes:
    response = httpx.get(base + path, timeout=10)
    assert response.status_code == 200, (path, response.status_code)
    return response.content


def _play_the_day(scenario: Scenario) -> None:
    """Poll the service's merged feed with a real feed reader until the day is served."""
    if importlib.util.find_spec("sgmllib") is None:
        pytest.fail(
            "reader's bundled feedparser imports `sgmllib`, which feedparser 6.0.12+ no "
            "longer installs: the dev extra needs sgmllib3k"
        )
    feed_url = f"{scenario.service_base}/feed.atom"
    subscriber = reader.make_reader(str(scenario.root / "reader.sqlite"))
    try:
        subscriber.add_feed(feed_url)
        started = time.monotonic()
        served_all_after: int | None = None  # rounds done when all was first out and served
        while served_all_after is None or len(scenario.rounds) < served_all_after + 2:
            round_started = time.monotonic()
            if round_started - started > GROWTH_TIMEOUT:
                raise TimeoutError(
                    f"the day was not served within {GROWTH_TIMEOUT:g}s; rounds: "
                    f"{scenario.rounds}\n{scenario.fixture.describe()}\n"
                    f"{scenario.service.describe()}"
                )
            scenario.fixture.check_alive()
            scenario.service.check_alive()
            # scheduled=False: reader (3.21+) otherwise skips feeds polled within the hour.
            results = list(subscriber.update_feeds_iter(scheduled=False))
            assert [result.url for result in results] == [feed_url]
            value = results[0].value
            if isinstance(value, Exception):
                raise AssertionError(f"the reader could not update the feed: {value!r}")
            complete = _fixture_complete(scenario.fixture_port)
            served = len(atom_ids(_served(scenario.service_base)))
            scenario.rounds.append(
                Round(
                    at=round(round_started - started, 2),
                    new=value.new if value is not None else 0,
                    modified=value.modified if value is not None else 0,
                    not_modified=value is None,
                    served=served,
                    fixture_complete=complete,
                )
            )
            if served_all_after is None and complete and served == TOTAL:
                served_all_after = len(scenario.rounds)
            time.sleep(max(0.0, READER_EVERY - (time.monotonic() - round_started)))
        scenario.reader_ids = [entry.id for entry in subscriber.get_entries()]
    finally:
        subscriber.close()


def _watch_quiet_spell(scenario: Scenario) -> None:
    """The log just after everything was served, and again a few seconds later."""
    scenario.quiet_before = events(scenario.live_config)
    time.sleep(QUIET_SECONDS)
    scenario.quiet_after = events(scenario.live_config)


def _stop(scenario: Scenario) -> None:
    stopping = time.monotonic()
    scenario.stop_status = scenario.service.signal(signal.SIGTERM, STOP_TIMEOUT)
    scenario.stop_seconds = time.monotonic() - stopping
    scenario.feed_on_disk = (scenario.live_output / "feed.atom").read_bytes()
    scenario.output_files = sorted(
        str(path.relative_to(scenario.live_output)) for path in scenario.live_output.rglob("*")
    )


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("service-e2e")
    seeds = root / "seeds"
    seeds.mkdir()
    for name in (AJ_SEED, DK_SEED):
        shutil.copy(SEEDS / name, seeds / name)
    config = root / "aggregator.toml"
    config.write_text(seed_config_text(seeds, root / "agg.db", root / "feeds"), encoding="utf-8")
    project = Project(root, config, seeds, root / "agg.db", root / "feeds")

    fixture_port, service_port = free_ports(2)
    live_config = root / "live.toml"
    live_output = root / "live-feeds"
    live_config.write_text(
        live_config_text(root / "live.db", live_output, service_port, fixture_port),
        encoding="utf-8",
    )
    fixture = start_fixture(config, fixture_port, SPEED, root)
    service: Process | None = None
    try:
        service = start_service(live_config, "run", service_port, root)
        state = Scenario(
            project=project,
            root=root,
            live_config=live_config,
            live_output=live_output,
            fixture_port=fixture_port,
            service_port=service_port,
            fixture=fixture,
            service=service,
        )
        _play_the_day(state)
        _watch_quiet_spell(state)
        state.served_feed = _served(state.service_base)
        state.source_feeds = {
            name: _served(state.service_base, f"/sources/{name}.atom") for name in SOURCES
        }
        health = httpx.get(f"{state.service_base}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        state.health = health.json()
        state.metrics = httpx.get(f"{state.service_base}/metrics", timeout=10).text
        _stop(state)
        yield state
    finally:
        if service is not None:
            service.kill()
        fixture.kill()


@pytest.fixture(scope="module")
def seed_log(scenario: Scenario) -> list[dict[str, Any]]:
    """The log a one-shot `collect` of the seed files gives, in its own database."""
    collected = cli(scenario.project.config, "collect")
    assert collected.returncode == 0, collected.stderr
    return events(scenario.project.config)


def _entry_pairs(log: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["source"], e["payload"]["key"]) for e in log if e["type"] in ENTRY_EVENTS]


# --- 1. growth ---------------------------------------------------------------


def test_merged_feed_grows_live_and_a_feed_reader_sees_each_update_once(
    scenario: Scenario, seed_log: list[dict[str, Any]]
) -> None:
    rounds = scenario.rounds
    described = "\n".join(map(str, rounds))
    # The reader got every update, once: 46 new in all, none ever "modified"
    # (an entry whose bytes changed though the update did not would count).
    assert sum(r.new for r in rounds) == TOTAL, described
    assert [r.modified for r in rounds if r.modified] == [], described
    assert len(scenario.reader_ids) == TOTAL
    assert len(set(scenario.reader_ids)) == TOTAL
    # The feed really grew while the reader watched: new entries turned up
    # over several rounds, and the served count never went down.
    assert len([r for r in rounds if r.new]) >= 3, described
    assert rounds[0].served < TOTAL, described
    served = [r.served for r in rounds]
    assert served == sorted(served), described
    # Once nothing changed the service answered the reader's conditional GET with 304.
    assert rounds[-1].not_modified, described

    # The log: every update added once, nothing revised, nothing lost, and the
    # same (source, key) pairs and entry ids as one collect of the finished pages.
    log = events(scenario.live_config)
    kinds = Counter(e["type"] for e in log)
    assert kinds["EntryAdded"] == TOTAL and kinds["EntryRevised"] == 0, kinds
    assert kinds["SourceFailed"] == 0, kinds
    # The service linked the one story the two blogs share, as a collect does.
    assert kinds["StoryLinked"] == 2, kinds
    assert kinds["StoryLinked"] == Counter(e["type"] for e in seed_log)["StoryLinked"]
    pairs = _entry_pairs(log)
    assert len(pairs) == len(set(pairs)) == TOTAL
    assert set(pairs) == set(_entry_pairs(seed_log))
    seed_ids = {e["payload"]["entry_id"] for e in seed_log if e["type"] == "EntryAdded"}
    assert set(scenario.reader_ids) == seed_ids
    assert set(atom_ids(scenario.served_feed)) == seed_ids

    # What is served is valid Atom, merged and per source.
    assert atom_problems(scenario.served_feed) == []
    assert len(atom_ids(scenario.source_feeds["aljazeera"])) == AJ_TOTAL
    assert len(atom_ids(scenario.source_feeds["dailyknight"])) == DK_TOTAL
    for document in scenario.source_feeds.values():
        assert atom_problems(document) == []


# --- 2. polite polling -------------------------------------------------------


def test_after_the_day_polls_are_conditional_and_append_no_entry(scenario: Scenario) -> None:
    before, after = scenario.quiet_before, scenario.quiet_after
    assert after[: len(before)] == before  # append-only
    spell = after[len(before) :]
    # One poll a second per source: every one answered 304 by the fixture.
    assert {e["type"] for e in spell} == {"SourceNotModified"}, spell
    per_source = Counter(e["source"] for e in spell)
    assert all(per_source[name] >= 2 for name in SOURCES), per_source
    # And not only in that spell: after each source's last full fetch, only 304s.
    for name in SOURCES:
        own = [e for e in after if e["source"] == name]
        last_fetch = max(i for i, e in enumerate(own) if e["type"] == "SourcePolled")
        assert {e["type"] for e in own[last_fetch + 1 :]} == {"SourceNotModified"}
    # Every poll after a source's first sent the validators, so the fixture
    # only sent a page when it had grown: no fetch after the first came back
    # without a new entry (that would be a SourcePolled with added == 0).
    for name in SOURCES:
        fetches = [
            e["payload"] for e in after if e["type"] == "SourcePolled" and e["source"] == name
        ]
        assert all(p["added"] > 0 for p in fetches[1:]), fetches

    lines = scenario.metrics.splitlines()
    not_modified = next(
        line
        for line in lines
        if line.startswith('aggregator_polls_total{outcome="not-modified",source="aljazeera"} ')
    )
    assert float(not_modified.split()[-1]) > 0
    assert 'aggregator_entries_appended_total{kind="added",source="aljazeera"} 40.0' in lines
    assert 'aggregator_entries_appended_total{kind="added",source="dailyknight"} 6.0' in lines
    assert 'aggregator_entries_appended_total{kind="revised",source="aljazeera"} 0.0' in lines
    assert not any(line.startswith("aggregator_poll_failures_total{") for line in lines)
    assert 'aggregator_source_entries{source="aljazeera"} 40.0' in lines

    health = scenario.health
    assert health["status"] == "ok" and health["scheduler"] == "running", health
    assert health["log_head"] == health["projection_position"]
    for name, total in (("aljazeera", AJ_TOTAL), ("dailyknight", DK_TOTAL)):
        source = health["sources"][name]
        assert source["entries"] == total and source["consecutive_failures"] == 0, source
        assert source["last_outcome"] == "not-modified", source


# --- 3. graceful stop --------------------------------------------------------


def test_sigterm_stops_gracefully_leaving_a_complete_feed_and_log(scenario: Scenario) -> None:
    stderr = scenario.service.stderr()
    assert scenario.stop_status == 0, scenario.service.describe()
    assert scenario.stop_seconds < STOP_TIMEOUT
    assert "Traceback" not in stderr
    stopped = [line for line in stderr.splitlines() if " aggregator.service stopped " in line]
    assert len(stopped) == 1 and "signal=SIGTERM" in stopped[0], stderr[-2000:]
    assert "scheduler stopped abandoned=0" in stderr

    # The file on disk is the complete document last served, with every entry.
    assert scenario.feed_on_disk == scenario.served_feed
    assert atom_problems(scenario.feed_on_disk) == []
    assert len(atom_ids(scenario.feed_on_disk)) == TOTAL
    assert not [name for name in scenario.output_files if name.endswith(".tmp")]
    assert scenario.output_files == [
        "feed.atom",
        "feed.json",
        "sources",
        "sources/aljazeera.atom",
        "sources/aljazeera.json",
        "sources/dailyknight.atom",
        "sources/dailyknight.json",
    ]

    # The log is readable after the stop and gap-free.
    log = events(scenario.live_config)
    assert [e["position"] for e in log] == list(range(1, len(log) + 1))
    assert log[-1]["position"] >= scenario.quiet_after[-1]["position"]


# --- 4. serve alone ----------------------------------------------------------


def test_serve_alone_serves_the_stopped_log_and_appends_nothing(scenario: Scenario) -> None:
    head = events(scenario.live_config)[-1]["position"]
    port = free_port()
    process = start_service(scenario.live_config, "serve", port, scenario.root)
    try:
        base = f"http://127.0.0.1:{port}"
        served = _served(base)
        assert served == scenario.feed_on_disk
        assert atom_ids(served) == atom_ids(scenario.served_feed)
        health = httpx.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 200
        body = health.json()
        assert body["scheduler"] == "absent" and body["status"] == "ok", body
        assert body["log_head"] == head
        assert {name: s["entries"] for name, s in body["sources"].items()} == {
            "aljazeera": AJ_TOTAL,
            "dailyknight": DK_TOTAL,
        }
        assert not any(s["polling"] for s in body["sources"].values())
        time.sleep(1.5)  # two scheduler intervals: a hidden poller would show
        assert httpx.get(f"{base}/healthz", timeout=10).json()["log_head"] == head
        status = process.signal(signal.SIGTERM, STOP_TIMEOUT)
        assert status == 0, process.describe()
    finally:
        process.kill()
    stderr = process.stderr()
    assert "serving only" in stderr
    # The config's base_url names the run process's port, and serve says so.
    assert "feed.base_url differs from the listening address" in stderr
    assert "aggregator.scheduler" not in stderr
    assert events(scenario.live_config)[-1]["position"] == head


# --- 5. sources --------------------------------------------------------------


def test_sources_reports_the_live_log(scenario: Scenario) -> None:
    listed = cli(scenario.live_config, "sources", "--json")
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [
        (r["name"], r["outcome"], r["entries"], r["failures"], r["error"]) for r in records
    ] == [
        ("aljazeera", "not-modified", AJ_TOTAL, 0, None),
        ("dailyknight", "not-modified", DK_TOTAL, 0, None),
    ]
    dues = []
    for record in records:
        last = datetime.fromisoformat(record["last_poll"])
        due = datetime.fromisoformat(record["next_poll"])
        # No failure, no server pacing (the fixture says no-cache): one interval.
        assert due - last == timedelta(seconds=1), record
        dues.append(due)

    # The service has stopped, so once that interval has passed both are due now.
    time.sleep(max(0.0, (max(dues) - datetime.now(UTC)).total_seconds() + 0.2))
    result = cli(scenario.live_config, "sources")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    columns = ["SOURCE", "LAST POLL", "OUTCOME", "NEXT POLL", "ENTRIES", "FAILURES", "LAST ERROR"]
    starts = [header.index(name) for name in columns]
    assert starts == sorted(starts), header
    table = [
        [row[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
        for row in rows
    ]
    assert table == [
        [r["name"], r["last_poll"], "not-modified", "due now", str(r["entries"]), "0", ""]
        for r in records
    ]


# --- a second run: SIGINT, and a restart that remembers the validators -------


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy of an SQLite database (WAL included), via the backup API."""
    old, new = sqlite3.connect(source), sqlite3.connect(target)
    try:
        old.backup(new)
    finally:
        old.close()
        new.close()


def test_a_restarted_run_polls_conditionally_and_stops_on_sigint(
    scenario: Scenario, tmp_path: Path
) -> None:
    """`run` again, over a copy of the log: the stored ETags make the very first
    polls 304s (no entry is fetched again), and Ctrl-C stops it cleanly."""
    database = tmp_path / "restart.db"
    _copy_database(scenario.root / "live.db", database)
    head = events(scenario.live_config)[-1]["position"]
    port = free_port()
    config = tmp_path / "restart.toml"
    config.write_text(
        live_config_text(database, tmp_path / "feeds", port, scenario.fixture_port),
        encoding="utf-8",
    )
    process = start_service(config, "run", port, tmp_path)
    try:

        def polled_each() -> list[dict[str, Any]] | None:
            process.check_alive()
            new = events(config, since=head)
            return new if {e["source"] for e in new} == set(SOURCES) else None

        new = wait_for(polled_each, 15.0, "a poll of each source after the restart", every=0.3)
        status = process.signal(signal.SIGINT, STOP_TIMEOUT)
        assert status == 0, process.describe()
    finally:
        process.kill()
    assert {e["type"] for e in new} == {"SourceNotModified"}, new
    stderr = process.stderr()
    assert "Traceback" not in stderr
    assert "stopped signal=SIGINT" in stderr
    after = events(config)
    assert [e["position"] for e in after] == list(range(1, len(after) + 1))
    assert Counter(e["type"] for e in after)["EntryAdded"] == TOTAL
    document = (tmp_path / "feeds" / "feed.atom").read_bytes()
    assert atom_problems(document) == []
    assert len(atom_ids(document)) == TOTAL
