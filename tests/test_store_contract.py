"""One contract suite for the event log and read models, run on every adapter.

The in-memory adapter is the reference; SQLite (a real file) and PostgreSQL
(when configured) must behave identically.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from aggregator.core.events import (
    EntryAdded,
    EntryRevised,
    Event,
    SourceFailed,
    SourcePolled,
    StoryLinked,
)
from aggregator.core.states import EntryDigest
from aggregator.store.base import EventLog, ReadModel
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryEventLog, MemoryReadModel
from aggregator.store.sql import SqlStore
from tests.conftest import open_test_store
from tests.support import ManualClock

T0 = datetime(2020, 9, 27, 8, 39, tzinfo=UTC)


def added(key: str, source: str = "s", minute: int = 0, title: str = "t") -> EntryAdded:
    when = T0 + timedelta(minutes=minute)
    return EntryAdded(
        source=source,
        key=key,
        entry_id=f"tag:example.org,2020:{source}/{key}",
        version=1,
        title=title,
        content_html=f"<p>{title}</p>",
        published=when,
        updated=when,
        link=None,
        author="A",
        content_hash=f"v1:{title}",
    )


def revised(base: EntryAdded, title: str, version: int = 2) -> EntryRevised:
    return EntryRevised(
        source=base.source,
        key=base.key,
        entry_id=base.entry_id,
        version=version,
        title=title,
        content_html=f"<p>{title}</p>",
        published=base.published,
        updated=base.updated + timedelta(hours=1),
        link=None,
        author="A",
        content_hash=f"v1:{title}",
        previous_hash=base.content_hash,
    )


def polled(poll_id: str, source: str = "s") -> SourcePolled:
    return SourcePolled(source=source, poll_id=poll_id, fetched_at=T0, added=1)


@dataclass
class Adapter:
    log: EventLog
    model: ReadModel
    clock: ManualClock
    sql: SqlStore | None


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def adapter(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[Adapter]:
    if request.param == "memory":
        yield Adapter(MemoryEventLog(clock), MemoryReadModel(), clock, None)
        return
    store = open_test_store(request.param, request, tmp_path, clock)
    yield Adapter(store.log, store.read_model, clock, store)
    store.close()


def test_positions_start_at_one_and_have_no_gaps(adapter: Adapter) -> None:
    first = adapter.log.append([added("a"), added("b")])
    second = adapter.log.append([added("c")])
    assert [r.position for r in first + second] == [1, 2, 3]
    assert [r.position for r in adapter.log.read()] == [1, 2, 3]
    assert adapter.log.head() == 3


def test_append_is_idempotent_by_event_key(adapter: Adapter) -> None:
    adapter.log.append([added("a"), polled("p1")])
    again = adapter.log.append([added("a"), polled("p1"), added("b")])
    assert [r.event_key for r in again] == ["entry:s:b:v1"]
    assert [r.position for r in again] == [3]
    within_batch = adapter.log.append([added("c"), added("c")])
    assert len(within_batch) == 1
    assert adapter.log.head() == 4


def test_racing_revisions_keep_only_the_first(adapter: Adapter) -> None:
    base = added("a")
    adapter.log.append([base])
    winner = adapter.log.append([revised(base, "first edit")])
    loser = adapter.log.append([revised(base, "other edit")])
    assert len(winner) == 1 and loser == []
    catch_up(adapter.log, adapter.model)
    assert adapter.model.entries()[0].title == "first edit"


def test_read_ranges_and_limits(adapter: Adapter) -> None:
    adapter.log.append([added(k) for k in "abcde"])
    assert [r.position for r in adapter.log.read(after=1, upto=3)] == [2, 3]
    assert [r.position for r in adapter.log.read(after=2, limit=2)] == [3, 4]
    assert list(adapter.log.read(after=5)) == []


def test_records_round_trip_their_events(adapter: Adapter) -> None:
    events: list[Event] = [
        added("a"),
        SourceFailed(
            source="s", poll_id="p", fetched_at=T0, kind="not-found", reason="file not found: /x"
        ),
    ]
    adapter.log.append(events)
    assert [r.event() for r in adapter.log.read()] == events


def test_position_at_a_time(adapter: Adapter) -> None:
    adapter.log.append([added("a")])
    first_time = adapter.clock.now
    adapter.clock.advance(minutes=5)
    adapter.log.append([added("b")])
    assert adapter.log.position_at(first_time - timedelta(seconds=1)) == 0
    assert adapter.log.position_at(first_time) == 1
    assert adapter.log.position_at(first_time + timedelta(minutes=1)) == 1
    assert adapter.log.position_at(adapter.clock.now) == 2
    records = list(adapter.log.read())
    assert records[1].recorded_at - records[0].recorded_at == timedelta(minutes=5)


def test_events_recorded_since_a_time_by_source(adapter: Adapter) -> None:
    start = adapter.clock.now
    adapter.log.append([added("a"), polled("p1"), added("x", source="other")])
    adapter.clock.advance(minutes=30)
    adapter.log.append([added("b"), polled("p2")])
    assert adapter.log.recorded_since(start - timedelta(seconds=1)) == {"s": 4, "other": 1}
    # After `when`, not at it: the first batch was recorded at `start` itself.
    assert adapter.log.recorded_since(start) == {"s": 2}
    assert adapter.log.recorded_since(adapter.clock.now) == {}


def test_arrival_sources_and_entries_by_arrival_number(adapter: Adapter) -> None:
    a = added("a", minute=5)
    adapter.log.append([a, added("x", source="other", minute=1), added("b", minute=3)])
    adapter.log.append([revised(a, "a2"), added("c", minute=2)])  # a revision keeps its number
    catch_up(adapter.log, adapter.model)
    assert adapter.model.arrival_sources(1, 4) == [(1, "s"), (2, "other"), (3, "s"), (4, "s")]
    assert adapter.model.arrival_sources(2, 3) == [(2, "other"), (3, "s")]
    assert adapter.model.arrival_sources(5, 9) == []
    chosen = adapter.model.numbered([4, 1, 3, 99])
    # Newest first by publication, like every feed; an unknown number is left out.
    assert [(e.key, e.arrival) for e in chosen] == [("a", 1), ("b", 3), ("c", 4)]
    assert chosen[0].title == "a2"
    assert adapter.model.numbered([]) == []
    assert adapter.model.numbered(range(1, 5)) == adapter.model.arrived(1, 4)


def test_read_model_folds_entries_and_source_status(adapter: Adapter) -> None:
    a, b = added("a", minute=1), added("b", minute=2)
    adapter.log.append([a, b, polled("p1")])
    adapter.log.append([revised(a, "edited"), polled("p2")])
    adapter.log.append(
        [SourceFailed(source="s", poll_id="p3", fetched_at=T0, kind="timeout", reason="slow")]
    )
    assert catch_up(adapter.log, adapter.model) == 6
    entries = adapter.model.entries()
    assert [(e.key, e.version, e.title) for e in entries] == [("b", 1, "t"), ("a", 2, "edited")]
    state = adapter.model.sources()["s"]
    assert (state.entry_count, state.last_outcome, state.consecutive_failures) == (2, "failed", 1)
    assert state.last_error == "timeout: slow"
    assert state.updated == a.updated + timedelta(hours=1)
    assert adapter.model.checkpoint() == 6


def test_the_last_failure_kind_is_projected_and_cleared_by_a_success(adapter: Adapter) -> None:
    def failed(poll_id: str, kind: str) -> SourceFailed:
        return SourceFailed(source="s", poll_id=poll_id, fetched_at=T0, kind=kind, reason="r")

    def kind_after(*events: Event) -> tuple[str | None, str | None, int, int]:
        adapter.log.append(list(events))
        catch_up(adapter.log, adapter.model)
        s = adapter.model.sources()["s"]
        return s.last_outcome, s.last_error_kind, s.consecutive_failures, s.entry_count

    assert kind_after(added("a"), polled("p1")) == ("ok", None, 0, 1)
    # A page that yields nothing is a failure of its own kind; the entry stays.
    assert kind_after(failed("p2", "no-updates")) == ("failed", "no-updates", 1, 1)
    assert adapter.model.sources()["s"].last_error == "no-updates: r"
    assert kind_after(failed("p3", "timeout")) == ("failed", "timeout", 2, 1)
    assert kind_after(polled("p4")) == ("ok", None, 0, 1)
    assert kind_after(failed("p5", "no-updates")) == ("failed", "no-updates", 1, 1)
    assert [e.key for e in adapter.model.entries(source="s")] == ["a"]
    # A replay, folding the whole log in one batch, ends in the same state.
    before = adapter.model.sources()
    adapter.model.reset()
    catch_up(adapter.log, adapter.model)
    assert adapter.model.sources() == before


def test_a_story_link_marks_the_entry_and_survives_its_revision(adapter: Adapter) -> None:
    a, b = added("a", minute=1), added("b", minute=2)
    adapter.log.append([a, b, StoryLinked(source="s", key="a", story="story:1", score=0.5)])
    adapter.log.append([revised(a, "edited"), polled("p1")])
    catch_up(adapter.log, adapter.model)
    stories = {e.key: (e.version, e.story) for e in adapter.model.entries()}
    assert stories == {"a": (2, "story:1"), "b": (1, None)}
    assert [e.key for e in adapter.model.entries(story="story:1")] == ["a"]
    assert adapter.model.entries(story="story:2") == []
    state = adapter.model.sources()["s"]
    assert (state.entry_count, state.position) == (2, 5)


def test_apply_is_idempotent_and_reset_empties(adapter: Adapter) -> None:
    adapter.log.append([added("a"), added("b")])
    records = list(adapter.log.read())
    adapter.model.apply(records)
    adapter.model.apply(records)
    assert adapter.model.sources()["s"].entry_count == 2
    adapter.model.reset()
    assert adapter.model.checkpoint() == 0 and adapter.model.entries() == []
    assert adapter.model.sources() == {}


def test_apply_folds_only_what_continues_the_checkpoint(adapter: Adapter) -> None:
    # What another process appended in between must not be skipped: a batch
    # that does not start right after the checkpoint folds nothing, and one
    # with a hole folds up to the hole.
    adapter.log.append([added("a"), added("b"), added("c"), added("d")])
    first, second, third, fourth = adapter.log.read()
    assert adapter.model.apply([second, third]) == 0
    assert adapter.model.entries() == []
    assert adapter.model.apply([first, second, fourth]) == 2
    assert sorted(e.key for e in adapter.model.entries()) == ["a", "b"]
    assert adapter.model.apply([second, third, fourth]) == 4


def test_entries_order_limit_and_source_filter(adapter: Adapter) -> None:
    adapter.log.append([added("x1", "x", 5), added("y1", "y", 7), added("x2", "x", 9)])
    catch_up(adapter.log, adapter.model)
    assert [e.key for e in adapter.model.entries()] == ["x2", "y1", "x1"]
    assert [e.key for e in adapter.model.entries(limit=2)] == ["x2", "y1"]
    assert [e.key for e in adapter.model.entries(source="x")] == ["x2", "x1"]


def test_sql_event_rows_cannot_be_updated_or_deleted(sql_store: SqlStore) -> None:
    sql_store.log.append([added("a")])
    for statement in ("UPDATE events SET type = 'Forged'", "DELETE FROM events"):
        with pytest.raises(DBAPIError, match="append-only"), sql_store.engine.begin() as conn:
            conn.execute(text(statement))
    assert [r.type for r in sql_store.log.read()] == ["EntryAdded"]


def test_sql_unique_event_key_is_a_database_constraint(sql_store: SqlStore) -> None:
    sql_store.log.append([added("a")])
    with pytest.raises(DBAPIError), sql_store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (position, event_key, type, schema_version,"
                " recorded_at, source, payload)"
                " VALUES (99, 'entry:s:a:v1', 'EntryAdded', 1, 'x', 's', '{}')"
            )
        )


def test_sql_concurrent_appends_stay_gap_free(sql_store: SqlStore) -> None:
    """Four threads, each with its own connections, append overlapping batches."""
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                # Every worker also appends the shared keys: only one copy may land.
                sql_store.log.append([added(f"w{n}-{i}"), added(f"shared-{i}")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    records = list(sql_store.log.read())
    assert [r.position for r in records] == list(range(1, len(records) + 1))
    keys = [r.event_key for r in records]
    assert len(keys) == len(set(keys)) == 4 * 15 + 15


def test_one_source_is_read_alone(adapter: Adapter) -> None:
    adapter.log.append([added("a"), polled("p1"), added("b", source="other")])
    catch_up(adapter.log, adapter.model)
    assert adapter.model.source("s") == adapter.model.sources()["s"]
    assert adapter.model.source("other") == adapter.model.sources()["other"]
    assert adapter.model.source("missing") is None


def test_digests_are_the_entries_without_their_content(adapter: Adapter) -> None:
    first = added("a")
    adapter.log.append([first, added("b", minute=1), added("c", "other")])
    adapter.clock.advance(minutes=7)
    adapter.log.append([revised(first, "t2")])
    catch_up(adapter.log, adapter.model)
    digests = adapter.model.digests("s")
    assert sorted(digests) == ["a", "b"]
    for entry in adapter.model.entries(source="s"):
        digest = digests[entry.key]
        assert digest == EntryDigest(
            entry.entry_id, entry.version, entry.content_hash, entry.updated, entry.recorded_at
        )
    assert digests["a"].version == 2
    # When the log recorded each entry's latest version: what damping measures from.
    assert digests["a"].recorded_at == adapter.clock.now
    assert digests["b"].recorded_at == adapter.clock.now - timedelta(minutes=7)
    assert adapter.model.digests("nobody") == {}


def test_owners_names_the_source_holding_each_id(adapter: Adapter) -> None:
    first = added("a", "good")
    # More ids than one IN query takes (500), to prove the chunks join up.
    many = [added(f"m{n}", "many", minute=n) for n in range(600)]
    adapter.log.append([first, revised(first, "t2"), added("b", "other"), *many])
    catch_up(adapter.log, adapter.model)
    asked = [first.entry_id, "tag:example.org,2020:nobody/x", *(e.entry_id for e in many)]
    assert adapter.model.owners(asked) == {
        first.entry_id: "good",
        **{e.entry_id: "many" for e in many},
    }
    assert adapter.model.owners([]) == {}
    adapter.model.reset()
    assert adapter.model.owners([first.entry_id]) == {}


def test_a_later_claimant_of_an_id_gets_another_and_the_first_keeps_it(adapter: Adapter) -> None:
    """Two polls that raced both recorded one id: the log's order decides, once."""
    good = added("a", "good")
    taken = good.entry_id
    spoof = replace(added("b", "spoof", minute=1), entry_id=taken)
    # The id the fold would make up for the next claimant is held already.
    squat = replace(added("s", "squat", minute=2), entry_id=f"{taken}/spoof/4")
    again = replace(added("c", "spoof", minute=3), entry_id=taken)
    events = [good, spoof, revised(spoof, "edited"), squat, again]
    adapter.log.append(events)
    # One event per apply, then the whole log in one: the same ids either way.
    for record in adapter.log.read():
        adapter.model.apply([record])
    one_by_one = {(e.source, e.key): e.entry_id for e in adapter.model.entries()}
    adapter.model.reset()
    catch_up(adapter.log, adapter.model)
    at_once = {(e.source, e.key): e.entry_id for e in adapter.model.entries()}
    assert (
        one_by_one
        == at_once
        == {
            ("good", "a"): taken,
            ("spoof", "b"): f"{taken}/spoof/2",
            ("squat", "s"): f"{taken}/spoof/4",
            ("spoof", "c"): f"{taken}/spoof/4/spoof/4",
        }
    )
    assert adapter.model.owners([taken, f"{taken}/spoof/2"]) == {
        taken: "good",
        f"{taken}/spoof/2": "spoof",
    }


def test_sql_entry_ids_are_unique_in_the_database(sql_store: SqlStore) -> None:
    sql_store.log.append([added("a")])
    catch_up(sql_store.log, sql_store.read_model)
    with pytest.raises(DBAPIError), sql_store.engine.begin() as conn:
        conn.execute(text("UPDATE entries SET key = 'b', arrival = 2"))
        conn.execute(
            text(
                "INSERT INTO entries SELECT source, 'a', entry_id, version, title, content_html,"
                " published, updated, link, author, content_hash, position, categories, story,"
                " 1, changed FROM entries"
            )
        )
