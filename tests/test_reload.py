"""Reloading the configuration of a running service (what SIGHUP triggers)."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aggregator.cli.service import Service
from aggregator.ingest.poll import PollSummary
from aggregator.store import open_store
from tests.conftest import Project
from tests.service_process import get, start_run, wait_for
from tests.support import running_service

EMPTY = httpx.Response(404)


@pytest.fixture
def service(project: Project) -> Iterator[Service]:
    settings = project.settings()
    store = open_store(settings.database_url)
    running = Service.build(settings, store, poll=True)
    try:
        with running_service(running):
            yield running
    finally:
        store.close()


def test_a_removed_source_leaves_the_metrics_even_if_it_was_polled(
    service: Service, project: Project
) -> None:
    """Its counters are dropped on reload, and a poll still in flight is not counted."""
    failed = PollSummary("dailyknight", error="boom", error_kind="timeout")
    service.metrics.record_poll(failed, 0.5)
    assert b'aggregator_poll_failures_total{kind="timeout",source="dailyknight"}' in (
        service.metrics.exposition()
    )
    text = project.config.read_text(encoding="utf-8")
    project.config.write_text(text[: text.index('[[sources]]\nname = "dailyknight"')])
    assert service.reload()
    service.metrics.record_poll(PollSummary("dailyknight", added=2), 0.5)
    assert b'source="dailyknight"' not in service.metrics.exposition()
    service.metrics.record_poll(PollSummary("aljazeera", added=1), 0.5)
    assert b'aggregator_polls_total{outcome="ok",source="aljazeera"}' in (
        service.metrics.exposition()
    )


def test_reload_follows_sources_and_feed_settings(
    service: Service, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    assert service.scheduler is not None
    assert set(service.scheduler.next_runs()) == {"aljazeera", "dailyknight"}
    text = project.config.read_text(encoding="utf-8")
    dailyknight = text.index('[[sources]]\nname = "dailyknight"')
    edited = text[:dailyknight].replace('title = "Test feed"', 'title = "Renamed feed"')
    project.config.write_text(edited.replace("port = 8080", "port = 9999"), encoding="utf-8")
    caplog.set_level(logging.INFO, logger="aggregator")

    assert service.reload()

    assert set(service.scheduler.next_runs()) == {"aljazeera"}
    edition = service.publisher.current()
    assert b"<title>Renamed feed</title>" in edition.merged.body
    assert set(edition.sources) == {"aljazeera"}
    assert b'source="dailyknight"' not in service.metrics.exposition()
    healthy, body = service.health()
    assert healthy and set(body["sources"]) == {"aljazeera"}
    restart = next(r for r in caplog.records if "next start" in r.getMessage())
    assert restart.__dict__["keys"] == "service.port"
    done = next(r for r in caplog.records if r.getMessage() == "configuration reloaded")
    assert done.__dict__["removed"] == "dailyknight"


def test_a_broken_config_is_refused_and_nothing_changes(
    service: Service, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    before = service.settings
    text = project.config.read_text(encoding="utf-8")
    project.config.write_text(text.replace('interval = "5m"', 'interval = "soon"', 1))
    caplog.set_level(logging.INFO, logger="aggregator")

    assert not service.reload()

    assert service.settings is before
    assert service.scheduler is not None
    assert set(service.scheduler.next_runs()) == {"aljazeera", "dailyknight"}
    refused = next(r for r in caplog.records if r.getMessage().startswith("reload refused"))
    assert str(project.config) in refused.__dict__["error"]
    assert "sources[0] (aljazeera).interval" in refused.__dict__["error"]


def test_sighup_reloads_a_running_service(project: Project, tmp_path: Path) -> None:
    service, base = start_run(project.config, tmp_path)
    try:
        wait_for(lambda: b"<entry>" in (get(base + "/feed.atom") or EMPTY).content, 30, "a feed")
        text = project.config.read_text(encoding="utf-8")
        project.config.write_text(text.replace('title = "Test feed"', 'title = "Renamed"'))
        service.popen.send_signal(signal.SIGHUP)

        def renamed() -> bool | None:
            response = get(base + "/feed.atom")
            return (
                True
                if response is not None and b"<title>Renamed</title>" in response.content
                else None
            )

        wait_for(renamed, 30, "the renamed feed")
        assert "configuration reloaded" in service.stderr()
        assert service.signal(signal.SIGTERM, timeout=20) == 0, service.describe()
    finally:
        service.kill()
