"""What follows an append: the followers of the log, run in one order by one runner.

Every command that appends or rebuilds (`collect`, `run`, `import`,
`replay`) hands the log to the same followers, in the same order:

1. `Projection` folds the read models up to the log's head. Its position is
   the read model's checkpoint, stored with the model in the database.
2. `Stories` runs the story linker, which reads the entries added past its
   own position and appends a `StoryLinked` for each match (see
   `follow.stories.linker`). Its state is in the log and the read model; a
   new one starts at the log's head when the follower is made, before the
   command appends anything, and warms up from the read model only when
   entries come past it.
3. `Publication` brings the published documents up to the read model (the
   `Publisher` of `publish.live`, which keeps the position of its edition;
   for a command's files, the state files beside the feeds and the archive
   pages: `publish.files`).

A follower reads what it needs from the log itself and keeps its own
position, so the runner only says "the log moved". The service's runner
runs once as it starts and then whenever the engine wakes it (after a poll
that added or revised entries), in a worker thread: a slow follower never
holds up a poll, and wake-ups that arrive while it runs fold into one more
run. A one-shot
command calls `run` once after its appends, and a follower's failure stops
it (the command could not do its job). Under the service a failure is
logged and leaves the later followers to run: what a follower missed it
picks up next time from its own position.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from aggregator.config import Settings
from aggregator.core.errors import StoreUnavailable
from aggregator.follow.stories.linker import StoryLinker
from aggregator.publish.documents import Update
from aggregator.publish.files import regenerate
from aggregator.store.base import EventLog, ReadModel
from aggregator.store.catchup import catch_up

logger = logging.getLogger("aggregator.follow")


class Follower(Protocol):
    """One consumer of the log. `follow` catches up with the log (up to `upto`,
    where the follower can stop there) from the follower's own position."""

    name: str

    def follow(self, upto: int | None) -> None: ...

    def position(self) -> int:
        """The last log position this follower has taken into account."""
        ...


class Projection:
    """Folds the read model; `progress` hears the checkpoint after each batch."""

    name = "fold"

    def __init__(
        self, log: EventLog, model: ReadModel, progress: Callable[[int], None] | None = None
    ) -> None:
        self._log = log
        self._model = model
        self._progress = progress
        self.folded = 0

    def follow(self, upto: int | None) -> None:
        self.folded += catch_up(self._log, self._model, upto=upto, progress=self._progress)

    def position(self) -> int:
        return self._model.checkpoint()


class Stories:
    """Links the entries the log gained into stories, appending `StoryLinked` events.

    Without a `linker`, one of its own starts at the log's head as it is now:
    what the log holds already was linked by the process that appended it
    (each runs this follower after its appends), so a command links only the
    entries appended after its runner was made, and one that appends none
    (a `collect` of unchanged pages, `replay`, `import`, `serve`) never runs
    the matcher. Build the runner before appending.

    Following to a position before the log's head (`replay --until`) links
    nothing: the log past that position already says what was linked, and a
    rebuild of the past must not record new facts.
    """

    name = "stories"

    def __init__(
        self,
        log: EventLog,
        model: ReadModel,
        linker: StoryLinker | None = None,
        interrupted: Callable[[], bool] = lambda: False,
    ) -> None:
        self._log = log
        self._model = model
        self._linker = linker or StoryLinker(start=log.head())
        self._interrupted = interrupted

    def follow(self, upto: int | None) -> None:
        if upto is not None and upto < self._log.head():
            return
        linked = self._linker.link(self._log, self._model, self._interrupted)
        if linked:
            logger.info("stories linked", extra={"entries": len(linked)})

    def position(self) -> int:
        return self._linker.position


class Publication:
    """Renders and publishes the documents the read model's changes touched."""

    name = "publish"

    def __init__(self, publish: Callable[[], object], position: Callable[[], int]) -> None:
        self._publish = publish
        self._position = position

    def follow(self, upto: int | None) -> None:
        self._publish()

    def position(self) -> int:
        return self._position()


class Runner:
    """Runs the followers in order; `serve` keeps doing so whenever `wake` is called.

    `finishing` is set by `finish`: a follower given its `is_set` (the story
    linker) cuts a long run short, so a stopping service is not held up.
    """

    def __init__(
        self, followers: Sequence[Follower], finishing: threading.Event | None = None
    ) -> None:
        self.followers = tuple(followers)
        self.finishing = finishing or threading.Event()
        self._wake: asyncio.Event | None = None

    def run(self, upto: int | None = None) -> None:
        """Each follower once, in order. A one-shot command lets a store error
        stop it (the command cannot do its job); the service logs and goes on."""
        for follower in self.followers:
            follower.follow(upto)

    def run_isolated(self) -> None:
        """Each follower once, in order; a failure is logged and the next one runs."""
        for follower in self.followers:
            try:
                follower.follow(None)
            except StoreUnavailable as exc:
                logger.warning(
                    "follower left behind", extra={"follower": follower.name, "error": str(exc)}
                )
            except Exception:
                logger.exception("follower crashed", extra={"follower": follower.name})

    def positions(self) -> dict[str, int]:
        """Where each follower stands in the log (for `/healthz`)."""
        return {follower.name: follower.position() for follower in self.followers}

    def wake(self) -> None:
        """Ask for a run soon; called on the loop `serve` runs on."""
        if self._wake is not None:
            self._wake.set()

    def finish(self) -> None:
        """Ask `serve` for one last run (what the last polls appended), then to return."""
        self.finishing.set()
        self.wake()

    async def serve(self) -> None:
        """Run the followers in a worker thread once at the start (a restarted
        follower catches up on what was appended while it was down, without
        waiting for a poll to add something), then after every wake-up, until
        `finish`."""
        self._wake = asyncio.Event()
        self._wake.set()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                finishing = self.finishing.is_set()
                await asyncio.to_thread(self.run_isolated)
                if finishing:
                    return
        finally:
            self._wake = None


def file_runner(
    settings: Settings,
    log: EventLog,
    model: ReadModel,
    progress: Callable[[int], None] | None = None,
    linker: StoryLinker | None = None,
    published: Callable[[Update], None] = lambda update: None,
) -> Runner:
    """The followers of a one-shot command (`collect`, `import`, `replay`): fold,
    link stories (what is appended after this call, see `Stories`), and write
    the documents to `output_dir` (`published` hears what was rendered and
    written, for the command to report)."""
    return Runner(
        [
            Projection(log, model, progress),
            Stories(log, model, linker),
            Publication(lambda: published(regenerate(settings, log, model)), model.checkpoint),
        ]
    )
