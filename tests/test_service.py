"""The service as a whole: health when parts fail, and the service on PostgreSQL."""

from __future__ import annotations

import signal
from pathlib import Path

import feedparser

from aggregator.cli.service import Service
from aggregator.core.events import format_time
from aggregator.store import open_store
from tests.conftest import Project
from tests.service_process import get, start_run, wait_for
from tests.support import running_service


def test_health_reports_a_stopped_scheduler_and_an_unreachable_store(project: Project) -> None:
    settings = project.settings()
    store = open_store(settings.database_url)
    service = Service.build(settings, store, poll=True)
    assert service.scheduler is not None
    with running_service(service):
        healthy, body = service.health()
        assert healthy and body["scheduler"] == "running" and body["store"] == "ok"
        assert set(body["followers"]) == {"fold", "stories", "publish"}

        wait_for(lambda: service.health()[1]["sources"]["aljazeera"]["last_poll"], 20, "a poll")
        line = 'aggregator_source_next_poll_timestamp_seconds{source="aljazeera"} '

        def agreed() -> bool | None:
            """The scheduler's plan, /metrics and /healthz, read in turn, give one time
            (retried: the job is moved to its next time just after the poll)."""
            planned = service.scheduler.next_runs()["aljazeera"] if service.scheduler else None
            exposition = service.metrics.exposition().decode()
            shown = service.health()[1]["sources"]["aljazeera"]["next_poll"]
            if planned is None or line not in exposition:
                return None
            metric = float(exposition.split(line, 1)[1].split()[0])
            same = abs(metric - planned.timestamp()) < 0.001 and shown == format_time(planned)
            return True if same else None

        # The default jitter puts the plan past `next_poll_at`: both reports give the plan.
        assert wait_for(agreed, 10, "/metrics and /healthz to give the planned next poll")
    healthy, body = service.health()
    assert not healthy and body["status"] == "unavailable" and body["scheduler"] == "stopped"

    serving = Service.build(settings, store, poll=False)
    assert serving.health()[1]["scheduler"] == "absent"
    store.close()
    project.database.unlink()  # the database vanishes under a running server
    healthy, body = serving.health()
    assert not healthy and body["status"] == "unavailable"
    assert body["store"].startswith("error: StoreUnavailable") and "no such table" in body["store"]


def test_run_on_postgresql(project: Project, postgres_schema_url: str, tmp_path: Path) -> None:
    text = project.config.read_text(encoding="utf-8")
    project.config.write_text(
        text.replace(f'url = "sqlite:///{project.database}"', f'url = "{postgres_schema_url}"'),
        encoding="utf-8",
    )
    service, base = start_run(project.config, tmp_path)
    try:

        def complete() -> feedparser.FeedParserDict | None:
            response = get(base + "/feed.atom")
            parsed = feedparser.parse(response.content) if response is not None else None
            return parsed if parsed is not None and len(parsed.entries) == 46 else None

        parsed = wait_for(complete, 60, "46 entries served from PostgreSQL")
        assert not parsed.bozo
        health = get(base + "/healthz")
        # 46 entries, 2 polls and the 2 links of the story the blogs share
        assert health is not None and health.json()["log_head"] == 50
        assert service.signal(signal.SIGTERM, timeout=20) == 0, service.describe()
    finally:
        service.kill()
    assert not project.database.exists()  # nothing went to the SQLite default
