"""The hostile-input corpus, through the real fetch path into a real log.

Each case of `tests/fixtures/hostile/cases.toml` is served by a real HTTP
server on 127.0.0.1 (`tests/hostile_server.py`) and polled once with
`collect.poll_source`, the code every command and the scheduler use, into one
SQLite log that already holds the seed live blogs. Per case the test checks
the outcome the table states (a `SourceFailed` a person can read, or entries
cleaned and kept), that nothing already in the log changed, and that the
merged feed is still valid Atom with no dangerous markup. A last test runs
`aggregator run` over every case at once and checks the service outlives
them all.
"""

from __future__ import annotations

import asyncio
import html
import signal
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.config import Settings, load_settings
from aggregator.core.events import EntryEvent, PollEvent, SourceFailed, SourcePolled
from aggregator.ingest.fetch import Fetcher
from aggregator.ingest.poll import poll_source
from aggregator.publish.files import render_merged
from aggregator.store import open_store
from aggregator.store.sql import SqlStore
from tests.atom_checks import atom_problems, dangerous_markup
from tests.conftest import source_table
from tests.hostile_server import HostileServer
from tests.service_process import free_port, get, start_service, wait_for
from tests.support import AJ_SEED, SEEDS, ManualClock

HOSTILE = Path(__file__).resolve().parent / "fixtures" / "hostile"
CASES: dict[str, dict[str, Any]] = tomllib.loads((HOSTILE / "cases.toml").read_text("utf-8"))[
    "cases"
]
CAP = 1024 * 1024
DEADLINE = 2.0


def hostile_sources(base: str, interval: str) -> str:
    tables = []
    for name, case in CASES.items():
        lines = [
            "[[sources]]",
            f'name = "{name}"',
            f'url = "{base}/{name}"',
            f'format = "{case.get("format", "auto")}"',
            f'interval = "{interval}"',
            f'timezone = "{case.get("timezone", "UTC")}"',
        ]
        if "date" in case:
            lines.append(f"date = {case['date']}")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def corpus_config(root: Path, base: str, port: int = 8080, interval: str = "5m") -> Path:
    """The seed Al Jazeera blog (read as a file) plus every hostile case as a source."""
    config = root / f"hostile-{port}.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{root / f"hostile-{port}.db"}"

[feed]
title = "Hostile corpus"
id = "tag:example.org,2020:hostile"
base_url = "http://127.0.0.1:{port}"
output_dir = "{root / f"feeds-{port}"}"
max_entries = 1000

[service]
port = {port}
shutdown_grace = "2s"
{source_table("aljazeera", "aljazeera", (SEEDS / AJ_SEED).as_uri())}
{hostile_sources(base, interval)}
""",
        encoding="utf-8",
    )
    return config


@dataclass
class Corpus:
    server: HostileServer
    settings: Settings
    store: SqlStore
    clock: ManualClock
    root: Path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    root = tmp_path_factory.mktemp("hostile")
    server = HostileServer(CASES, HOSTILE)
    with server.running() as base:
        settings = load_settings(corpus_config(root, base), environ={})
        store = open_store(settings.database_url)
        clock = ManualClock()
        poll(settings, store, clock, "aljazeera")
        try:
            yield Corpus(server, settings, store, clock, root)
        finally:
            store.close()


def poll(settings: Settings, store: SqlStore, clock: ManualClock, name: str) -> None:
    async def once() -> None:
        fetcher = Fetcher(max_bytes=CAP, deadline=DEADLINE, clock=clock)
        try:
            await poll_source(settings.source(name), fetcher, store.log, store.read_model, clock)
        finally:
            await fetcher.aclose()

    asyncio.run(once())


def test_the_corpus_is_big_enough_and_covers_both_outcomes() -> None:
    outcomes = [case["expect"] for case in CASES.values()]
    assert len(CASES) >= 40
    assert outcomes.count("failed") >= 15 and outcomes.count("kept") >= 15


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_recorded_cleanly_and_loses_nothing(corpus: Corpus, name: str) -> None:
    case = CASES[name]
    before = list(corpus.store.log.read())
    poll(corpus.settings, corpus.store, corpus.clock, name)
    after = list(corpus.store.log.read())
    # Nothing already in the log changed, and the new events are this source's.
    assert after[: len(before)] == before
    new = [record.event() for record in after[len(before) :]]
    assert new and {event.source for event in new} == {name}
    polls = [event for event in new if isinstance(event, PollEvent)]
    assert len(polls) == 1
    outcome = polls[0]
    entries = [event for event in new if isinstance(event, EntryEvent)]

    if case["expect"] == "failed":
        assert isinstance(outcome, SourceFailed), outcome
        assert outcome.kind == case["kind"], outcome.reason
        for part in case.get("reason", []):
            assert part in outcome.reason, outcome.reason
        assert "Traceback" not in outcome.reason and len(outcome.reason) <= 500
        assert outcome.http_status == case.get("http_status")
        if "retry_after" in case:
            assert outcome.not_before == corpus.clock.now + timedelta(seconds=case["retry_after"])
        assert entries == []
    else:
        assert isinstance(outcome, SourcePolled), outcome
        assert outcome.added == len(entries) == case["entries"], outcome.notes
        notes = " | ".join([*outcome.notes, *(note for e in entries for note in e.notes)])
        for part in case.get("notes", []):
            assert part in notes, notes

    document = render_merged(corpus.settings, corpus.store.read_model)
    assert atom_problems(document) == []
    assert dangerous_markup(document) == []
    text = document.decode("utf-8")
    for part in case.get("in_feed", []):
        assert part in text, part
    for part in case.get("not_in_feed", []):
        assert part not in text, part
    assert corpus.server.canary_hits == []


def test_the_service_outlives_the_whole_corpus(tmp_path: Path) -> None:
    server = HostileServer(CASES, HOSTILE)
    with server.running() as base:
        port = free_port()
        config = corpus_config(tmp_path, base, port, interval="1s")
        service = start_service(config, "run", port, tmp_path)
        try:
            polled = set(CASES) | {"aljazeera"}

            def every_source_polled() -> bool | None:
                service.check_alive()
                health = get(f"http://127.0.0.1:{port}/healthz")
                assert health is not None and health.status_code == 200, health
                seen = {n for n, s in health.json()["sources"].items() if s["last_poll"]}
                return True if seen >= polled else None

            wait_for(every_source_polled, 120, "every hostile source to be polled", every=1)
            feed = get(f"http://127.0.0.1:{port}/feed.atom")
            assert feed is not None and feed.status_code == 200
            assert atom_problems(feed.content) == [] and dangerous_markup(feed.content) == []
            assert service.signal(signal.SIGTERM, timeout=30) == 0, service.describe()
        finally:
            service.kill()
    stderr = service.stderr()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert server.canary_hits == []


def test_the_markup_check_finds_what_it_looks_for() -> None:
    """`dangerous_markup` must be able to fail, or the corpus proves nothing."""
    content = (
        '<p onclick="x()">a</p><script>x()</script><a href="javascript:x()">b</a>'
        '<img src="data:image/png;base64,AAAA"><svg></svg><p style="color:red">c</p>'
    )
    document = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry>'
        '<link rel="alternate" href="javascript:alert(1)"/>'
        f'<content type="html">{html.escape(content)}</content></entry></feed>'
    ).encode()
    assert dangerous_markup(document) == [
        "atom:link href 'javascript:alert(1)'",
        "onclick attribute on <p>",
        "<script> element",
        "href='javascript:x()' on <a>",
        "src='data:image/png;base64,AAAA' on <img>",
        "<svg> element",
        "style attribute on <p>",
    ]
