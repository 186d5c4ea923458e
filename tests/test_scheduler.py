"""The scheduler against misbehaving servers: real HTTP on 127.0.0.1, a real SQLite log.

Each test runs a `PollScheduler` and its `PollEngine` in-process on an event
loop of their own (APScheduler on real time, with one-second intervals,
which config allows for loopback sources) against a scripted server, and
checks what an operator would look at: the event log, the log lines and
`/metrics`' exposition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from aggregator.config import Settings, load_settings
from aggregator.core.events import EntryEvent, SourceFailed, SourceNotModified, SourcePolled
from aggregator.engine.metrics import Metrics
from aggregator.engine.polls import PollEngine
from aggregator.engine.scheduler import PollScheduler
from aggregator.ingest.fetch import Fetcher
from aggregator.ingest.polling import next_poll_at
from aggregator.store import open_store
from aggregator.store.sql import SqlStore
from tests.http_fixture import Response, serve
from tests.support import LoopThread

PAGE = (
    "A test live page\n\n"
    "10:00 GMT – First update\n\nSomething happened.\n\n"
    "09:00 GMT – Opening update\n\nThe page opened.\n"
).encode()
OK_HEADERS = {"ETag": '"v1"', "Content-Type": "text/plain; charset=utf-8"}


def settings_for(tmp_path: Path, url: str, *more: str, **service: str | int) -> Settings:
    """One source named "flaky" at `url`, plus "other1", "other2"... at `more`."""
    extra = "".join(
        f"{key} = {value}\n" if isinstance(value, int) else f'{key} = "{value}"\n'
        for key, value in service.items()
    )
    names = ["flaky"] + [f"other{n}" for n in range(1, len(more) + 1)]
    sources = "".join(
        f"""
[[sources]]
name = "{name}"
url = "{source_url}"
format = "liveblog-text"
interval = "1s"
date = 2020-09-27
"""
        for name, source_url in zip(names, [url, *more], strict=True)
    )
    text = f"""
[storage]
url = "sqlite:///{tmp_path / "agg.db"}"

[feed]
title = "T"
id = "tag:example.org,2026:t"
base_url = "http://127.0.0.1:8080"
output_dir = "{tmp_path / "feeds"}"

[service]
jitter = "0s"
{extra}{sources}"""
    path = tmp_path / "agg.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ={})


class Harness:
    def __init__(self, settings: Settings, fetcher: Fetcher | None) -> None:
        self.settings = settings
        self.store: SqlStore = open_store(settings.database_url)
        log, model = self.store.log, self.store.read_model
        self.metrics = Metrics(settings, log, model)
        self.engine = PollEngine(
            settings.service, log, model, self.store.clock, fetcher, self.metrics.record_poll
        )
        self.scheduler = PollScheduler(settings, self.engine, model, self.store.clock)
        self.loop = LoopThread()

    def start(self) -> None:
        self.loop.run(self.scheduler.start())

    def stop(self, grace: float | None = None) -> None:
        self.loop.run(self.scheduler.stop(grace))

    def close(self) -> None:
        self.stop(grace=1)
        self.loop.run(self.engine.aclose())
        self.loop.close()
        self.store.close()

    def events(self) -> list[object]:
        return [record.event() for record in self.store.log.read()]

    def polls(self) -> list[object]:
        return [e for e in self.events() if not isinstance(e, EntryEvent)]

    def wait_for(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; log so far: {self.polls()}")
            time.sleep(0.05)

    def metric(self, line_start: str) -> float:
        for line in self.metrics.exposition().decode().splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@contextmanager
def harness(
    tmp_path: Path,
    url: str,
    *more: str,
    fetcher: Fetcher | None = None,
    **service: str | int,
) -> Iterator[Harness]:
    running = Harness(settings_for(tmp_path, url, *more, **service), fetcher)
    running.start()
    try:
        yield running
    finally:
        running.close()


class Script:
    """A route that answers from a list of responses and notes when each request came."""

    def __init__(self, *responses: Response | Callable[[], Response]) -> None:
        self.responses = list(responses)
        self.arrivals: list[float] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, handler: BaseHTTPRequestHandler) -> Response:
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.headers.append(dict(handler.headers))
            index = min(len(self.arrivals), len(self.responses)) - 1
        answer = self.responses[index]
        return answer() if callable(answer) else answer

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]


def test_not_modified_polls_append_no_entry_event(tmp_path: Path) -> None:
    script = Script((200, OK_HEADERS, PAGE))  # http_fixture answers a matching ETag with 304
    with serve({"/live": script}) as base, harness(tmp_path, f"{base}/live") as h:
        h.wait_for(lambda: sum(isinstance(e, SourceNotModified) for e in h.events()) >= 2)
        h.stop()
        events = h.events()
        assert sum(isinstance(e, EntryEvent) for e in events) == 2
        assert isinstance(events[2], SourcePolled)
        assert all(isinstance(e, SourceNotModified) for e in events[3:])
        assert script.headers[1].get("If-None-Match") == '"v1"'
        assert h.metric('aggregator_polls_total{outcome="not-modified",source="flaky"}') >= 2
        assert h.metric('aggregator_entries_appended_total{kind="added",source="flaky"}') == 2


def test_failures_back_off_then_recover_to_the_interval(tmp_path: Path) -> None:
    failure = (500, {}, b"broken")
    script = Script(failure, failure, failure, (200, {}, PAGE))
    with (
        serve({"/live": script}) as base,
        harness(tmp_path, f"{base}/live", max_backoff="3s") as h,
    ):
        h.wait_for(lambda: len(script.arrivals) >= 6)
        h.stop()
        failures = [e for e in h.polls() if isinstance(e, SourceFailed)]
        assert [f.kind for f in failures[:3]] == ["http-status"] * 3
        assert [f.http_status for f in failures[:3]] == [500] * 3
        assert "HTTP 500" in failures[0].reason
        # Waits after 1, 2, 3 failures: 2s, then 4s capped at 3s twice; after the
        # success the source is back to its 1s interval.
        gaps = script.gaps()
        for gap, expected in zip(gaps, [2, 3, 3, 1, 1], strict=False):
            assert expected - 0.15 <= gap <= expected + 1.5, (gaps, expected)
        assert h.metric('aggregator_poll_failures_total{kind="http-status",source="flaky"}') == 3
        assert h.metric('aggregator_source_consecutive_failures{source="flaky"}') == 0


def test_retry_after_is_honoured_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = Script((429, {"Retry-After": "3"}, b"slow down"), (200, {}, PAGE))
    caplog.set_level(logging.INFO, logger="aggregator")
    with serve({"/live": script}) as base, harness(tmp_path, f"{base}/live") as h:
        h.wait_for(lambda: len(script.arrivals) >= 2)
        h.stop()
        failed = h.polls()[0]
        assert isinstance(failed, SourceFailed) and failed.not_before is not None
        assert failed.http_status == 429
        wait = (failed.not_before - failed.fetched_at).total_seconds()
        assert 3 <= wait < 3.5
        # The interval is 1s and one failure alone would mean 2s: Retry-After wins.
        assert script.gaps()[0] >= 2.85
        assert h.metric('aggregator_poll_failures_total{kind="http-status",source="flaky"}') == 1
    line = next(r for r in caplog.records if r.getMessage() == "poll failed")
    assert line.levelname == "WARNING" and line.__dict__["kind"] == "http-status"
    assert "Retry-After: 3" in line.__dict__["error"]


def test_max_age_delays_the_next_poll(tmp_path: Path) -> None:
    fresh = (200, {"Cache-Control": "max-age=3"}, PAGE)
    script = Script(fresh)
    with serve({"/live": script}) as base, harness(tmp_path, f"{base}/live") as h:
        h.wait_for(lambda: len(script.arrivals) >= 2, timeout=10)
        h.stop()
        assert script.gaps()[0] >= 2.85
        state = h.store.read_model.source("flaky")
        assert state is not None and state.not_before is not None
        assert next_poll_at(state, timedelta(seconds=1)) == state.not_before


def test_slow_and_oversized_answers_fail_cleanly(tmp_path: Path) -> None:
    def slow() -> Response:
        time.sleep(3)
        return 200, {}, PAGE

    with (
        serve({"/slow": Script(slow), "/huge": Script((200, {}, b"x" * 5000))}) as base,
        harness(
            tmp_path,
            f"{base}/slow",
            fetcher=Fetcher(max_bytes=1000, deadline=1.0),
        ) as h,
    ):
        h.wait_for(lambda: any(isinstance(e, SourceFailed) for e in h.events()))
        h.stop()
        failed = h.polls()[0]
        assert isinstance(failed, SourceFailed) and failed.kind == "timeout"
        assert h.metric('aggregator_poll_failures_total{kind="timeout",source="flaky"}') == 1
    huge_path = tmp_path / "huge"
    huge_path.mkdir()
    with (
        serve({"/huge": Script((200, {}, b"x" * 5000))}) as base,
        harness(huge_path, f"{base}/huge", fetcher=Fetcher(max_bytes=1000)) as h,
    ):
        h.wait_for(lambda: any(isinstance(e, SourceFailed) for e in h.events()))
        h.stop()
        failed = h.polls()[0]
        assert isinstance(failed, SourceFailed) and failed.kind == "too-large"
        assert "1000-byte cap" in failed.reason
        assert not any(isinstance(e, EntryEvent) for e in h.events())


def test_stop_abandons_a_poll_in_flight_without_appending(tmp_path: Path) -> None:
    release = threading.Event()

    def hanging() -> Response:
        release.wait(10)
        return 200, {}, PAGE

    script = Script(hanging)
    with serve({"/live": script}) as base:
        h = Harness(settings_for(tmp_path, f"{base}/live"), None)
        h.start()
        h.wait_for(lambda: h.scheduler.in_flight() == ["flaky"])
        started = time.monotonic()
        h.stop(grace=0.5)
        assert time.monotonic() - started < 3
        assert not h.scheduler.running and h.scheduler.in_flight() == []
        assert h.events() == []
        release.set()
        h.close()


def test_one_host_gets_at_most_per_host_polls_at_once(tmp_path: Path) -> None:
    active = {"now": 0, "most": 0}
    lock = threading.Lock()

    def counted() -> Response:
        with lock:
            active["now"] += 1
            active["most"] = max(active["most"], active["now"])
        time.sleep(0.3)
        with lock:
            active["now"] -= 1
        return 200, {}, PAGE

    script = Script(counted)
    routes = {f"/{n}": script for n in range(4)}
    with serve(routes) as base:
        urls = [f"{base}/{n}" for n in range(4)]
        with harness(tmp_path, *urls, workers=4, per_host=1) as h:
            h.wait_for(lambda: len(script.arrivals) >= 8)
            h.stop()
    # Four sources due at once and four workers, but one host allowing one poll.
    assert active["most"] == 1
