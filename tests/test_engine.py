"""The poll engine and the follower runner, on a real HTTP server and a real SQLite log.

What the engine promises (see `engine`): one client shared by every poll,
its connections kept alive from one poll to the next; a host's limit taken
before a worker slot, so polls queued behind one slow host never hold a slot
another host could use. What the runner promises (see `follow`): followers
run in order, a failing one does not stop the next, and wake-ups that arrive
while a run is under way fold into one more run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import feedparser
import pytest

from aggregator.config import Settings
from aggregator.core.events import EntryAdded, SourceFailed, SourcePolled
from aggregator.engine.metrics import Metrics
from aggregator.engine.polls import PollEngine
from aggregator.follow.runner import Runner
from aggregator.ingest.poll import PollSummary
from aggregator.publish.catalog import View
from aggregator.publish.files import render_merged
from aggregator.store import open_store
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryReadModel
from aggregator.store.sql import SqlStore
from tests.http_fixture import Response, serve
from tests.support import HeldModel, ManualClock
from tests.test_scheduler import PAGE, settings_for

OK = {"ETag": '"v1"', "Content-Type": "text/plain; charset=utf-8"}


def polls(
    settings: Settings, store: SqlStore, times: int = 1, source: int = 0
) -> list[PollSummary | None]:
    """The first source (or `settings.sources[source]`) polled `times` in a row by
    one engine, on a loop of its own."""

    async def run() -> list[PollSummary | None]:
        engine = PollEngine(settings.service, store.log, store.read_model, store.clock)
        try:
            return [await engine.poll(settings.sources[source]) for _ in range(times)]
        finally:
            await engine.aclose()

    return asyncio.run(run())


@contextlib.contextmanager
def json_feed(tmp_path: Path, body: bytes) -> Iterator[Settings]:
    """Settings whose one source, "flaky", is `body` served as a JSON Feed."""
    answer = (200, {"Content-Type": "application/feed+json"}, body)
    with serve({"/feed.json": lambda handler: answer}) as base:
        settings = settings_for(tmp_path, f"{base}/feed.json")
        yield replace(settings, sources=(replace(settings.sources[0], format="feed"),))


def test_every_poll_shares_one_client_and_keeps_its_connection(tmp_path: Path) -> None:
    ports: list[int] = []

    def page(handler: BaseHTTPRequestHandler) -> Response:
        ports.append(handler.client_address[1])
        return 200, OK, PAGE

    with serve({"/live": page}, keep_alive=True) as base:
        settings = settings_for(tmp_path, f"{base}/live")
        store = open_store(settings.database_url)

        outcomes = [s.outcome if s else None for s in polls(settings, store, times=5)]
        store.close()
    assert outcomes == ["ok"] + ["not-modified"] * 4
    # Five requests, one TCP connection: no poll built a client of its own.
    assert len(ports) == 5 and len(set(ports)) == 1


def test_a_page_flipping_on_every_poll_is_damped_and_a_correction_still_lands(
    tmp_path: Path,
) -> None:
    """`revise_every` (10m by default): an entry already revised is revised at
    most once per period, whatever the page does between; a change is deferred,
    never lost. Each request moves the clock a minute: poll k fetches at minute
    k - 1 and is recorded at minute k."""
    clock = ManualClock()
    plain = {"Content-Type": "text/plain; charset=utf-8"}
    flip = PAGE.replace(b"Something happened.", b"Something else happened.")
    correction = PAGE.replace(b"Something happened.", b"Something happened at noon.")
    bodies = [PAGE, flip]
    requests: list[datetime] = []

    def flipping(handler: BaseHTTPRequestHandler) -> Response:
        requests.append(clock.advance(minutes=1))
        return 200, plain, bodies[(len(requests) - 1) % len(bodies)]

    with serve({"/live": flipping}) as base:
        settings = settings_for(tmp_path, f"{base}/live")
        store = open_store(settings.database_url, clock=clock)
        assert [s.outcome if s else None for s in polls(settings, store, times=20)] == ["ok"] * 20
        revised = [r for r in store.log.read() if r.type == "EntryRevised"]
        # Twenty polls, nineteen flips: the first revision at once (recorded at
        # minute 2), the next by the first poll fetching from minute 12 on that
        # still sees a difference (recorded at 13): two, where every flip was one.
        assert [r.recorded_at for r in revised] == [requests[1], requests[12]]
        notes = [
            note
            for r in store.log.read()
            if r.type == "SourcePolled"
            for note in json.loads(r.payload)["notes"]
        ]
        # One note per poll that deferred a change: minutes 3, 5, ... 11, then 14 ... 20.
        waiting = (
            "1 revision(s) deferred: an entry already revised is revised again at most once per 10m"
        )
        assert notes == [waiting] * 9

        # A real correction, served from minute 20 on, lands with the first poll
        # fetching ten minutes after the last revision (at 23, recorded at 24).
        bodies[:] = [correction]
        polls(settings, store, times=5)
        store.close()
    reopened = open_store(settings.database_url)
    (entry,) = [e for e in reopened.read_model.entries() if "noon" in e.content_html]
    assert entry.version == 4 and entry.recorded_at == requests[23]
    reopened.close()


def live_page(label: str, count: int) -> bytes:
    """A liveblog-text page of `count` updates, a minute apart from midnight."""
    lines = (
        f"{n // 60:02d}:{n % 60:02d} GMT – {label} {n}\n\n{label} update number {n}.\n\n"
        for n in reversed(range(count))
    )
    return ("A test live page\n\n" + "".join(lines)).encode()


def test_three_flooding_sources_leave_the_good_one_its_share_of_the_merged_feed(
    tmp_path: Path,
) -> None:
    """The merged feed of 100 is shared fairly between the sources of its span
    (`[feed] fair_span`, 500 latest arrivals): the good source's 12 updates
    arrived first and 450 flood entries after them, yet all 12 are in
    /feed.atom; what the floods lose is on the open archive page. /metrics
    shows which sources grow the log."""
    plain = {"Content-Type": "text/plain; charset=utf-8"}
    routes = {"/good": lambda handler: (200, plain, live_page("Good", 12))}
    for n in range(1, 4):
        routes[f"/flood{n}"] = lambda handler, n=n: (200, plain, live_page(f"Flood{n}", 150))
    with serve(routes) as base:
        urls = [f"{base}/flood{n}" for n in range(1, 4)]
        settings = settings_for(tmp_path, f"{base}/good", *urls)
        store = open_store(settings.database_url)
        for index in range(4):  # the good source first: its entries are the oldest
            (summary,) = polls(settings, store, source=index)
            assert summary is not None and summary.added == (12 if index == 0 else 150)
    model = store.read_model
    merged = render_merged(settings, model)
    shown = Counter(entry.title.split()[0] for entry in feedparser.parse(merged).entries)
    assert shown == {"Good": 12, "Flood1": 30, "Flood2": 29, "Flood3": 29}
    # The choice follows from the log: a replay renders the same bytes.
    replayed = MemoryReadModel()
    catch_up(store.log, replayed)
    assert render_merged(settings, replayed) == merged
    # Every entry is still reachable: the open archive page has the rest.
    view = View(settings, model)
    assert view.paging.pages == 1 and len(view.page(1)) == 462 - 100
    growth = [
        line
        for line in Metrics(settings, store.log, model).exposition().decode().splitlines()
        if line.startswith("aggregator_source_events_last_hour")
    ]
    assert growth == [
        'aggregator_source_events_last_hour{source="flaky"} 13.0',
        *(f'aggregator_source_events_last_hour{{source="other{n}"}} 151.0' for n in (1, 2, 3)),
    ]
    store.close()


def _three_slow_then_one_fast(
    tmp_path: Path, **service: int
) -> tuple[str | None, list[str], list[str]]:
    """Three sources on a server that holds its answers, then, 0.3 s later, one
    on another host that answers at once, through one engine with `service`'s
    limits: the fast poll's outcome (None when it waited 10 s in vain), the
    sources in flight as it ended, and then, once the slow ones are let go,
    the sources of the successful polls in the order the log has them."""
    release = threading.Event()

    def slow(handler: BaseHTTPRequestHandler) -> Response:
        release.wait(20)
        return 200, OK, PAGE

    routes = {"/slow1": slow, "/slow2": slow, "/slow3": slow, "/fast": lambda h: (200, OK, PAGE)}
    with serve(routes) as base:
        other = base.replace("127.0.0.1", "localhost")  # another host, same server
        urls = [f"{base}/slow1", f"{base}/slow2", f"{base}/slow3", f"{other}/fast"]
        settings = settings_for(tmp_path, *urls)
        settings = replace(settings, service=replace(settings.service, **service))
        store = open_store(settings.database_url)

        async def run() -> tuple[str | None, list[str]]:
            engine = PollEngine(settings.service, store.log, store.read_model, store.clock)
            slow_polls = [asyncio.create_task(engine.poll(s)) for s in settings.sources[:3]]
            await asyncio.sleep(0.3)
            try:
                fast = await asyncio.wait_for(engine.poll(settings.sources[3]), 10)
            except TimeoutError:
                fast = None
            in_flight = engine.in_flight()
            release.set()
            await asyncio.gather(*slow_polls)
            await engine.aclose()
            return (fast.outcome if fast else None), in_flight

        outcome, in_flight = asyncio.run(run())
        polled = [e for e in (r.event() for r in store.log.read()) if isinstance(e, SourcePolled)]
        store.close()
    return outcome, in_flight, [e.source for e in polled]


def test_a_slow_host_queues_its_polls_without_holding_the_slots(tmp_path: Path) -> None:
    outcome, in_flight, polled = _three_slow_then_one_fast(tmp_path, fetches=2, per_host=1)
    # Two slots, one held by the slow host's first poll: the other host's
    # poll still had one, and the two queued polls held none.
    assert outcome == "ok"
    assert in_flight == ["flaky"]
    assert polled[0] == "other3" and len(polled) == 4


class _Follower:
    def __init__(self, name: str, calls: list[str], fail: bool = False) -> None:
        self.name = name
        self._calls = calls
        self._fail = fail

    def follow(self, upto: int | None) -> None:
        self._calls.append(self.name)
        if self._fail:
            raise RuntimeError(f"{self.name} broke")

    def position(self) -> int:
        return len(self._calls)


def test_followers_run_in_order_and_a_failure_does_not_stop_the_next() -> None:
    calls: list[str] = []
    runner = Runner(
        [
            _Follower("fold", calls),
            _Follower("stories", calls, fail=True),
            _Follower("publish", calls),
        ]
    )
    runner.run_isolated()
    assert calls == ["fold", "stories", "publish"]
    try:
        runner.run()
    except RuntimeError as exc:
        assert str(exc) == "stories broke"  # a one-shot command stops on it
    else:
        raise AssertionError("run() let a follower's failure pass")
    assert calls[3:] == ["fold", "stories"]


def test_a_burst_of_wake_ups_is_one_more_run_and_finish_runs_a_last_time() -> None:
    calls: list[str] = []
    gate = threading.Event()

    class Slow(_Follower):
        def follow(self, upto: int | None) -> None:
            super().follow(upto)
            gate.wait(5)

    runner = Runner([Slow("publish", calls)])

    async def scenario() -> None:
        serving = asyncio.create_task(runner.serve())
        await asyncio.sleep(0)
        runner.wake()
        await asyncio.sleep(0.1)  # the first run is under way, held at the gate
        for _ in range(10):
            runner.wake()
        gate.set()
        await asyncio.sleep(0.2)
        runner.finish()
        await asyncio.wait_for(serving, 5)

    asyncio.run(scenario())
    # The run at the start (the first wake-up came during it), one for the ten
    # wake-ups, one last for finish().
    assert calls == ["publish"] * 3


def test_the_runner_runs_once_as_it_starts_without_a_wake_up() -> None:
    """A restarted service links and publishes what the log gained while it was
    down, without waiting for a poll to add something."""
    calls: list[str] = []
    runner = Runner([_Follower("fold", calls), _Follower("stories", calls)])

    async def scenario() -> list[str]:
        serving = asyncio.create_task(runner.serve())
        await asyncio.sleep(0.3)
        seen = list(calls)
        runner.finish()
        await asyncio.wait_for(serving, 5)
        return seen

    assert asyncio.run(scenario()) == ["fold", "stories"]


def test_a_validator_that_cannot_be_sent_back_is_not_kept(tmp_path: Path) -> None:
    """A server's non-ASCII ETag used to be stored, sent back, and refused by httpx
    on every later poll: the source was broken for good. It is now not kept."""
    headers: list[dict[str, str]] = []

    def page(handler: BaseHTTPRequestHandler) -> Response:
        headers.append(dict(handler.headers))
        return 200, {"ETag": '"café"', "Content-Type": "text/plain; charset=utf-8"}, PAGE

    with serve({"/live": page}) as base:
        settings = settings_for(tmp_path, f"{base}/live")
        store = open_store(settings.database_url)

        outcomes = [s.outcome if s else None for s in polls(settings, store, times=2)]
        polled = [e for e in (r.event() for r in store.log.read()) if isinstance(e, SourcePolled)]
        state = store.read_model.source("flaky")
        store.close()
    assert outcomes == ["ok", "ok"]
    assert "If-None-Match" not in headers[1]
    assert state is not None and state.etag is None
    assert any("ETag" in note and "not kept" in note for note in polled[0].notes)


def test_ipv6_loopback_is_a_loopback_source(tmp_path: Path) -> None:
    """`::1` was refused as "a reserved address" while 127.0.0.1 was allowed."""
    with serve({"/live": lambda handler: (200, OK, PAGE)}, host="::1") as base:
        assert base.startswith("http://[::1]:")
        settings = settings_for(tmp_path, f"{base}/live")  # a 1s interval: loopback allows it
        store = open_store(settings.database_url)

        (summary,) = polls(settings, store)
        outcome = summary.error if summary and summary.error else (summary and "ok")
        store.close()
    assert outcome == "ok"


def test_a_connection_reset_before_the_answer_is_named(tmp_path: Path) -> None:
    """A server that resets the connection at once used to give an empty reason."""
    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                connection.recv(1024)
                # Linger 0: close with a TCP reset, not an orderly goodbye.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/live"
    settings = settings_for(tmp_path, url)
    store = open_store(settings.database_url)

    try:
        (summary,) = polls(settings, store)
        error = summary.error if summary else None
    finally:
        listener.close()
        store.close()
    assert error is not None
    reason = error.split(f"could not fetch {url}: ", 1)[1]
    assert reason.strip(), error


def test_a_lone_surrogate_is_repaired_and_the_poll_recorded(tmp_path: Path) -> None:
    """A JSON Feed whose id and title hold a lone surrogate (a legal JSON escape)
    used to fail the database write: nothing was recorded, not even the failure."""
    feed = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": ['
        b'{"id": "a\\ud800", "title": "Half \\udc00 a pair", "content_text": "x",'
        b' "date_published": "2020-09-27T10:00:00Z"},'
        b'{"id": "b", "title": "Fine", "content_text": "y",'
        b' "date_published": "2020-09-27T11:00:00Z"}]}'
    )
    with json_feed(tmp_path, feed) as settings:
        store = open_store(settings.database_url)

        (summary,) = polls(settings, store)
        outcome = summary.outcome if summary else None
        ids = sorted(e.entry_id for e in store.read_model.entries(source="flaky"))
        events = [record.event() for record in store.log.read()]
        notes = [n for e in events if isinstance(e, EntryAdded) for n in e.notes]
        store.close()
    assert outcome == "ok"
    # The id keeps its place with U+FFFD; the title's text rules already drop it.
    # Neither id is an IRI, so each entry's Atom id is in the source's namespace.
    assert ids == ["tag:example.org,2026:t/flaky/a%EF%BF%BD", "tag:example.org,2026:t/flaky/b"]
    assert "NUL or unpaired surrogate replaced by U+FFFD in id, key" in notes


@pytest.mark.parametrize(
    ("media", "body"),
    [
        (
            "application/feed+json",
            b'{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": ['
            b'{"id": "late", "title": "Late", "content_text": "x",'
            b' "date_published": "9999-12-31T23:00:00-05:00"},'
            b'{"id": "early", "title": "Early", "content_text": "x",'
            b' "date_published": "0001-01-01T00:30:00+01:00"},'
            b'{"id": "fine", "title": "Fine", "content_text": "y",'
            b' "date_published": "2020-09-27T11:00:00Z"}]}',
        ),
        (
            "text/html; charset=utf-8",
            b'<html><head><script type="application/ld+json">{"@context": "https://schema.org",'
            b' "@type": "LiveBlogPosting", "headline": "Live", "liveBlogUpdate": ['
            b'{"@type": "BlogPosting", "headline": "Late", "articleBody": "x",'
            b' "datePublished": "9999-12-31T23:00:00-05:00"},'
            b'{"@type": "BlogPosting", "headline": "Fine", "articleBody": "y",'
            b' "datePublished": "2020-09-27T11:00:00Z"}]}</script></head><body></body></html>',
        ),
    ],
    ids=["json-feed", "json-ld"],
)
def test_a_date_utc_cannot_hold_does_not_take_the_page_down(
    tmp_path: Path, media: str, body: bytes
) -> None:
    """9999-12-31T23:00-05:00 is in year 10000: converting it raised OverflowError
    and failed the whole page; the page's good update must still be recorded."""
    answer = (200, {"Content-Type": media}, body)
    with serve({"/page": lambda handler: answer}) as base:
        settings = settings_for(tmp_path, f"{base}/page")
        fmt = "feed" if "json" in media and "html" not in media else "liveblog-html"
        settings = replace(settings, sources=(replace(settings.sources[0], format=fmt),))
        store = open_store(settings.database_url)

        (summary,) = polls(settings, store)
        outcome = (summary.outcome, summary.error) if summary else (None, None)
        titles = {e.title for e in store.read_model.entries(source="flaky")}
        store.close()
    assert outcome == ("ok", None)
    assert "Fine" in titles


@pytest.mark.parametrize("depth", [100, 100_000])
def test_json_ld_nested_too_deep_is_skipped_and_the_valid_block_kept(
    tmp_path: Path, depth: int
) -> None:
    """A JSON-LD block nested thousands deep raised RecursionError, losing the
    page's valid block too; it is now skipped with a note."""
    deep = b'{"a": ' * depth + b"1" + b"}" * depth
    good = (
        b'{"@context": "https://schema.org", "@type": "LiveBlogPosting", "headline": "Live",'
        b' "liveBlogUpdate": [{"@type": "BlogPosting", "headline": "Fine", "articleBody": "y",'
        b' "datePublished": "2020-09-27T11:00:00Z"}]}'
    )
    body = (
        b'<html><head><script type="application/ld+json">' + deep + b"</script>"
        b'<script type="application/ld+json">' + good + b"</script></head><body></body></html>"
    )
    answer = (200, {"Content-Type": "text/html; charset=utf-8"}, body)
    with serve({"/page": lambda handler: answer}) as base:
        settings = settings_for(tmp_path, f"{base}/page")
        settings = replace(
            settings, sources=(replace(settings.sources[0], format="liveblog-html"),)
        )
        store = open_store(settings.database_url)

        (summary,) = polls(settings, store)
        outcome = summary.outcome if summary else None
        titles = {e.title for e in store.read_model.entries(source="flaky")}
        polled = [e for e in (r.event() for r in store.log.read()) if isinstance(e, SourcePolled)]
        store.close()
    assert outcome == "ok" and titles == {"Fine"}
    assert any("nested more than 64 levels" in note for note in polled[0].notes)


def test_text_no_database_can_hold_is_repaired_before_the_write(
    sql_store: SqlStore, tmp_path: Path
) -> None:
    """A NUL in a JSON Feed id is legal JSON, but PostgreSQL's text
    refuses it: the write failed and the poll was lost. It is repaired first."""
    feed = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": ['
        b'{"id": "a\\u0000b", "title": "T", "content_text": "x",'
        b' "date_published": "2020-09-27T10:00:00Z"}]}'
    )
    with json_feed(tmp_path, feed) as settings:
        (summary,) = polls(settings, sql_store)
    entries = list(sql_store.read_model.entries(source="flaky"))
    assert summary is not None and summary.outcome == "ok", summary
    assert [e.entry_id for e in entries] == ["tag:example.org,2026:t/flaky/a%EF%BF%BDb"]
    (added,) = [r.event() for r in sql_store.log.read() if r.type == EntryAdded.type_name]
    assert any("NUL" in note for note in added.notes), added.notes


def test_a_write_the_database_refuses_is_a_failed_poll_with_backoff(tmp_path: Path) -> None:
    """A write refused for what it holds (here a real SQLite trigger) used to
    escape as a crash: nothing recorded, no backoff, a traceback every poll."""
    with serve({"/": lambda handler: (200, OK, PAGE)}) as base:
        settings = settings_for(tmp_path, f"{base}/")
        store = open_store(settings.database_url)
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.type = 'EntryAdded'"
                " BEGIN SELECT RAISE(ABORT, 'refused by policy'); END"
            )
        summaries = polls(settings, store, times=2)
        state = store.read_model.source("flaky")
        kinds = [r.event() for r in store.log.read()]
        store.close()
    assert [s.error_kind if s else None for s in summaries] == ["store-refused"] * 2
    assert summaries[0] is not None and "refused by policy" in (summaries[0].error or "")
    assert state is not None and state.consecutive_failures == 2
    assert [type(e).__name__ for e in kinds] == ["SourceFailed", "SourceFailed"]


def test_a_poll_cancelled_in_its_worker_thread_appends_nothing(tmp_path: Path) -> None:
    """Cancelling the task left the worker thread running: the poll appended
    after the stop. It now checks, just before the append, that it may."""
    with serve({"/": lambda handler: (200, OK, PAGE)}) as base:
        settings = settings_for(tmp_path, f"{base}/")
        store = open_store(settings.database_url)
        held = HeldModel(store.read_model, "digests")

        async def run() -> int:
            engine = PollEngine(settings.service, store.log, held, store.clock)  # type: ignore[arg-type]
            poll = asyncio.create_task(engine.poll(settings.sources[0]))
            await asyncio.to_thread(held.entered.wait, 20)
            abandoned = await engine.cancel()
            held.release.set()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
            await engine.aclose()  # waits for the worker thread to finish
            return abandoned

        abandoned = asyncio.run(run())
        head = store.log.head()
        store.close()
    assert abandoned == 1
    assert head == 0


def test_slow_servers_hold_no_worker_while_they_keep_a_poll_waiting(tmp_path: Path) -> None:
    """A worker slot was held for the whole poll, network wait included: three
    slow servers held every slot and the good source waited as long as they did."""
    outcome, _, _ = _three_slow_then_one_fast(tmp_path, workers=2, per_host=3)
    assert outcome == "ok"


def _long_page(updates: int) -> bytes:
    """A text live page whose reading takes a while: real work, no test hook."""
    lines = "".join(
        f"{(updates - i) // 60 % 24:02d}:{(updates - i) % 60:02d} GMT – Update {i}\n\n"
        f"Something happened, number {i}.\n\n"
        for i in range(updates)
    )
    return ("A long live page\n\n" + lines).encode()


def test_a_page_over_the_cpu_budget_fails_its_poll_and_the_next_source_polls_fine(
    tmp_path: Path,
) -> None:
    """Reading a page stops at `extract_budget` of CPU time: the poll fails with
    kind "budget" (backoff applies), and the killed worker is replaced, so the
    next source polled by the same engine is read as usual."""
    long_page = (200, OK, _long_page(20_000))
    routes = {"/long": lambda handler: long_page, "/short": lambda handler: (200, OK, PAGE)}
    with serve(routes) as base:
        settings = settings_for(tmp_path, f"{base}/long", f"{base}/short")
        budget = timedelta(seconds=0.05)
        settings = replace(settings, service=replace(settings.service, extract_budget=budget))
        store = open_store(settings.database_url)

        async def run() -> list[PollSummary | None]:
            engine = PollEngine(settings.service, store.log, store.read_model, store.clock)
            try:
                return [await engine.poll(source) for source in settings.sources]
            finally:
                await engine.aclose()

        long, short = asyncio.run(run())
        failed = [e for e in (r.event() for r in store.log.read()) if isinstance(e, SourceFailed)]
        state = store.read_model.source("flaky")
        titles = {e.title for e in store.read_model.entries(source="other1")}
        store.close()
    assert long is not None and long.error_kind == "budget"
    assert long.error == "extraction ran past its budget of 0.05 s of CPU time; it was stopped"
    assert [(e.source, e.kind) for e in failed] == [("flaky", "budget")]
    assert state is not None and state.consecutive_failures == 1
    assert short is not None and short.outcome == "ok"
    assert titles == {"First update", "Opening update"}


def test_a_poll_still_reading_its_page_at_shutdown_appends_nothing(tmp_path: Path) -> None:
    """Cancelling the engine's polls (the scheduler does at shutdown) stops the
    extraction workers too: a poll whose thread was reading its page used to
    append when it finished, after the stop."""
    fetched = threading.Event()

    def long(handler: BaseHTTPRequestHandler) -> Response:
        fetched.set()
        return 200, OK, _long_page(100_000)

    with serve({"/long": long}) as base:
        settings = settings_for(tmp_path, f"{base}/long")
        store = open_store(settings.database_url)

        async def run() -> None:
            engine = PollEngine(settings.service, store.log, store.read_model, store.clock)
            poll = asyncio.create_task(engine.poll(settings.sources[0]))
            await asyncio.to_thread(fetched.wait, 10)
            await asyncio.sleep(0.5)  # the page is being read (about 2 s of work)
            assert await engine.cancel() == 1
            await engine.aclose()  # waits for the poll's thread to come back
            assert poll.cancelled()

        asyncio.run(run())
        events = [record.event() for record in store.log.read()]
        store.close()
    assert events == []


def test_a_poll_keeps_the_newest_entries_of_a_page_that_lists_too_many(tmp_path: Path) -> None:
    """A feed of 5,000 items, out of order, polled with `max_entries_per_poll`
    1,000: the 1,000 newest by published time are recorded, with one note."""
    start = datetime(2020, 9, 27, tzinfo=UTC)
    order = sorted(range(5_000), key=lambda number: (number % 7, number))
    items = "".join(
        f"<item><guid>urn:update:{number}</guid><title>Update {number}</title>"
        f"<pubDate>{format_datetime(start + timedelta(minutes=number))}</pubDate>"
        f"<description>Update number {number}.</description></item>"
        for number in order
    )
    feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>{items}'
    answer = (200, {"Content-Type": "application/rss+xml"}, (feed + "</channel></rss>").encode())
    with serve({"/feed": lambda handler: answer}) as base:
        settings = settings_for(tmp_path, f"{base}/feed")
        source = replace(settings.sources[0], format="feed", max_entries_per_poll=1_000)
        settings = replace(settings, sources=(source,))
        store = open_store(settings.database_url)

        (summary,) = polls(settings, store)
        events = [record.event() for record in store.log.read()]
        store.close()
    added = {event.title for event in events if isinstance(event, EntryAdded)}
    (polled,) = [event for event in events if isinstance(event, SourcePolled)]
    assert summary is not None and summary.added == 1_000
    assert added == {f"Update {number}" for number in range(4_000, 5_000)}
    assert polled.notes == ("page holds 5000 entries; the newest 1000 kept",)
