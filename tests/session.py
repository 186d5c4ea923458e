"""Drives the real pipeline in-process against a real SQLite file.

Used where a test needs to control the clock or look inside the store; the
CLI tests run the same pipeline through subprocesses. Like `collect`, each
collect runs the followers: fold, link stories, write the files.
"""

from __future__ import annotations

import asyncio

from aggregator.config import Settings
from aggregator.core.states import StoredEvent
from aggregator.engine.polls import collect_once
from aggregator.follow.runner import file_runner
from aggregator.follow.stories.linker import StoryLinker
from aggregator.ingest.poll import PollSummary
from aggregator.publish import catalog
from aggregator.publish.documents import Update
from aggregator.publish.files import render_merged
from aggregator.store import open_store
from aggregator.store.sql import SqlStore
from tests.documents import written
from tests.support import ManualClock


class PipelineSession:
    def __init__(self, settings: Settings, clock: ManualClock, url: str | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.store: SqlStore = open_store(url or settings.database_url, clock=clock)
        self.linker = StoryLinker(start=self.store.log.head())  # as `collect` makes it
        log, model = self.store.log, self.store.read_model
        self.published: list[Update] = []  # what each collect's files follower did
        self.runner = file_runner(
            settings, log, model, linker=self.linker, published=self.published.append
        )

    def collect(self) -> list[PollSummary]:
        """What `aggregator collect` does: one engine polls every source, then the
        followers run (fold, stories, files)."""
        log, model = self.store.log, self.store.read_model
        summaries = asyncio.run(
            collect_once(self.settings.service, self.settings.sources, log, model, self.clock)
        )
        self.runner.run()
        return summaries

    def feed_file(self) -> bytes:
        return written(self.settings, catalog.MERGED_ATOM).read_bytes()

    def rendered(self) -> bytes:
        return render_merged(self.settings, self.store.read_model)

    def events(self, after: int = 0) -> list[StoredEvent]:
        return list(self.store.log.read(after=after))

    def close(self) -> None:
        self.store.close()
