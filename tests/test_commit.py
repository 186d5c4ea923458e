"""Unit tests of `ingest.commit.GroupCommit` alone, over the in-memory store.

The writes run on a thread of their own, as under the engine, so polls that
arrive while one write is under way really do queue behind it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from aggregator.core.errors import PollAbandoned, StoreRefused
from aggregator.core.events import Event, SourceNotModified
from aggregator.core.states import StoredEvent
from aggregator.ingest.commit import GroupCommit
from aggregator.store.memory import MemoryEventLog, MemoryReadModel

T = TypeVar("T")
WHEN = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def polled(source: str, poll: int = 1) -> SourceNotModified:
    return SourceNotModified(source=source, poll_id=f"{source}-{poll}", fetched_at=WHEN)


class GatedLog(MemoryEventLog):
    """A memory log whose first append waits for `gate` (so later polls queue
    behind it), and which refuses any batch holding a source named in `refuse`."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        super().__init__(clock=lambda: WHEN)
        self.gate = threading.Event()
        self.refuse = refuse
        self.batches: list[list[str]] = []

    def append(self, events: Sequence[Event]) -> list[StoredEvent]:
        if not self.batches:
            self.gate.wait(10)
        self.batches.append([e.source for e in events])
        if self.refuse & {e.source for e in events}:
            raise StoreRefused("the database refused the write: a test said so")
        return super().append(events)


def commit_in_thread(log: GatedLog, model: MemoryReadModel) -> tuple[GroupCommit, Any]:
    writer = ThreadPoolExecutor(1)

    async def run_write(work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(writer, work)

    return GroupCommit(log, model, run_write), writer


async def _commit_all(
    commit: GroupCommit,
    log: GatedLog,
    polls: Sequence[Sequence[Event]],
    go_ahead: Callable[[int], bool] = lambda index: True,
) -> list[list[StoredEvent] | BaseException]:
    first = asyncio.ensure_future(commit(polls[0]))
    await asyncio.sleep(0.05)  # the first write has started and waits on the gate
    rest = [
        asyncio.ensure_future(commit(events, lambda i=i: go_ahead(i)))
        for i, events in enumerate(polls[1:], start=1)
    ]
    await asyncio.sleep(0.05)
    log.gate.set()
    return list(await asyncio.gather(first, *rest, return_exceptions=True))


def test_polls_that_arrive_during_a_write_share_the_next_one() -> None:
    log, model = GatedLog(), MemoryReadModel()
    commit, writer = commit_in_thread(log, model)
    polls = [[polled(f"s{i}")] for i in range(6)]
    try:
        outcomes = asyncio.run(_commit_all(commit, log, polls))
    finally:
        writer.shutdown()
    assert log.batches == [["s0"], ["s1", "s2", "s3", "s4", "s5"]]
    assert commit.writes == 2
    for i, outcome in enumerate(outcomes):
        assert isinstance(outcome, list)
        assert [record.source for record in outcome] == [f"s{i}"]
    assert model.checkpoint() == log.head() == 6  # folded as written
    assert {name for name in model.sources()} == {f"s{i}" for i in range(6)}


def test_a_refused_group_is_written_again_poll_by_poll_and_only_the_culprit_fails() -> None:
    log, model = GatedLog(refuse=frozenset({"bad"})), MemoryReadModel()
    commit, writer = commit_in_thread(log, model)
    polls = [[polled("first")], [polled("a")], [polled("bad")], [polled("b", 1), polled("b", 2)]]
    try:
        outcomes = asyncio.run(_commit_all(commit, log, polls))
    finally:
        writer.shutdown()
    assert log.batches[1] == ["a", "bad", "b", "b"]  # the group, refused whole
    assert log.batches[2:] == [["a"], ["bad"], ["b", "b"]]
    assert isinstance(outcomes[2], StoreRefused)
    assert [len(o) for o in outcomes if isinstance(o, list)] == [1, 1, 2]
    assert sorted(r.source for r in log.read()) == ["a", "b", "b", "first"]
    assert model.checkpoint() == log.head() == 4


def test_a_poll_told_not_to_go_ahead_appends_nothing_and_the_others_do() -> None:
    log, model = GatedLog(), MemoryReadModel()
    commit, writer = commit_in_thread(log, model)
    polls = [[polled(f"s{i}")] for i in range(4)]
    try:
        outcomes = asyncio.run(_commit_all(commit, log, polls, go_ahead=lambda i: i != 2))
    finally:
        writer.shutdown()
    assert isinstance(outcomes[2], PollAbandoned)
    assert sorted(r.source for r in log.read()) == ["s0", "s1", "s3"]


def test_events_already_in_the_log_come_back_as_nothing_written() -> None:
    log, model = GatedLog(), MemoryReadModel()
    log.gate.set()
    commit = GroupCommit(log, model)  # inline: a group of one

    async def twice() -> tuple[list[StoredEvent], list[StoredEvent]]:
        return await commit([polled("s")]), await commit([polled("s"), polled("t")])

    first, second = asyncio.run(twice())
    assert [r.source for r in first] == ["s"]
    assert [r.source for r in second] == ["t"]


def test_a_write_that_fails_otherwise_raises_its_error_in_every_poll_of_the_group() -> None:
    class BrokenLog(GatedLog):
        def append(self, events: Sequence[Event]) -> list[StoredEvent]:
            super().append([])  # waits on the gate the first time
            raise TypeError("a bug in the store")

    log, model = BrokenLog(), MemoryReadModel()
    commit, writer = commit_in_thread(log, model)
    try:
        outcomes = asyncio.run(_commit_all(commit, log, [[polled(f"s{i}")] for i in range(3)]))
    finally:
        writer.shutdown()
    assert [type(o) for o in outcomes] == [TypeError] * 3


@pytest.mark.parametrize("events", [[], [polled("s")]])
def test_a_poll_gets_back_exactly_its_own_records(events: list[Event]) -> None:
    log, model = GatedLog(), MemoryReadModel()
    log.gate.set()
    written = asyncio.run(GroupCommit(log, model)(events))
    assert [r.event_key for r in written] == [e.event_key for e in events]
