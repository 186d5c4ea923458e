"""Drives the real pipeline in-process against a real SQLite file.

Used where a test needs to control the clock or look inside the store; the
CLI tests run the same pipeline through subprocesses. Like `collect`, each
collect links the stories its new entries joined.
"""

from __future__ import annotations

import asyncio

from aggregator.collect import PollSummary, collect_sources
from aggregator.config import Settings
from aggregator.publish.files import merged_feed_path, regenerate, render_merged
from aggregator.store import open_store
from aggregator.store.base import StoredEvent
from aggregator.store.sql import SqlStore
from aggregator.stories.linker import StoryLinker
from tests.support import ManualClock


class PipelineSession:
    def __init__(self, settings: Settings, clock: ManualClock, url: str | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.store: SqlStore = open_store(url or settings.database_url, clock=clock)
        self.linker = StoryLinker()

    def collect(self) -> list[PollSummary]:
        sources = list(self.settings.sources)
        summaries = asyncio.run(
            collect_sources(sources, self.store.log, self.store.read_model, self.clock)
        )
        self.linker.link(self.store.log, self.store.read_model)
        regenerate(self.settings, self.store.read_model)
        return summaries

    def feed_file(self) -> bytes:
        return merged_feed_path(self.settings).read_bytes()

    def rendered(self) -> bytes:
        return render_merged(self.settings, self.store.read_model)

    def events(self, after: int = 0) -> list[StoredEvent]:
        return list(self.store.log.read(after=after))

    def close(self) -> None:
        self.store.close()
