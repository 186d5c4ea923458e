"""Unit tests of `collect.poll_source` alone, over the in-memory store."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from aggregator.cli.main import main
from aggregator.core.events import SourceFailed
from aggregator.ingest.fetch import Fetcher
from aggregator.ingest.poll import poll_source
from aggregator.ingest.workers import ExtractPool
from aggregator.store.memory import MemoryEventLog, MemoryReadModel
from tests.conftest import Project
from tests.support import ManualClock


def crash(*args: object) -> object:
    """Stands in for a page that trips a bug in an extractor (module-level: the
    extraction worker imports it by name)."""
    raise RecursionError("maximum recursion depth exceeded")


def test_an_extractor_crash_is_that_sources_recorded_failure(
    project: Project, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The poll must record a crash like any other failure, so the service
    # goes on polling.
    monkeypatch.setattr("aggregator.ingest.workers.extract", crash)
    extractors = ExtractPool(1, 20.0)
    log, model = MemoryEventLog(clock), MemoryReadModel()
    source = project.settings().source("aljazeera")

    async def poll() -> None:
        fetcher = Fetcher(clock=clock)
        try:
            summary = await poll_source(source, fetcher, log, model, clock, extractors=extractors)
        finally:
            await fetcher.aclose()
            extractors.close()
        assert summary.outcome == "failed" and summary.error_kind == "internal"

    asyncio.run(poll())
    (record,) = list(log.read())
    failed = record.event()
    assert isinstance(failed, SourceFailed) and failed.kind == "internal"
    assert failed.reason == "internal error: RecursionError: maximum recursion depth exceeded"
    state = model.source("aljazeera")
    assert state is not None and state.consecutive_failures == 1


def test_collect_reports_a_crash_in_one_line_and_its_traceback_only_with_debug(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("aggregator.ingest.workers.extract", crash)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert main(["--config", str(project.config), "collect"]) == 1
        quiet = capsys.readouterr()
        assert main(["--config", str(project.config), "--debug", "collect"]) == 1
        debug = capsys.readouterr()
    finally:
        root.handlers[:], root.level = handlers, level
    assert "Traceback" not in quiet.err
    assert "aggregator: error: extracting aljazeera raised" in quiet.err
    assert "error (internal): internal error: RecursionError" in quiet.out
    assert "Traceback" in debug.err and "RecursionError" in debug.err
