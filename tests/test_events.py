"""Event payloads: the current shape round-trips, and every older version is still read.

Records are never rewritten, so a log written by an older build holds
payloads of older schema versions next to new ones; `from_payload` upcasts
them as they are read. The SQL cases store real version-1 records (through
`restore`, as an import of an old export would) on each database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from aggregator.core.events import (
    SCHEMA_VERSION,
    SourceFailed,
    from_payload,
    parse_time,
    to_payload,
)
from aggregator.core.states import StoredEvent
from aggregator.store.catchup import catch_up
from aggregator.store.sql import SqlStore
from tests.test_store_contract import added

WHEN = datetime(2020, 9, 27, 12, 0, tzinfo=UTC)

# Payloads exactly as version 1 wrote them (the shape shipped up to 0.1.0).
V1_FAILED_503 = (
    '{"fetched_at":"2020-09-27T12:00:00.000000Z","kind":"http-status","not_before":null,'
    '"poll_id":"p1","reason":"https://example.org/live answered HTTP 503 Service Unavailable'
    ' (Retry-After: 120)","source":"s"}'
)
V1_FAILED_TIMEOUT = (
    '{"fetched_at":"2020-09-27T12:00:00.000000Z","kind":"timeout","not_before":null,'
    '"poll_id":"p2","reason":"no answer within 30s","source":"s"}'
)
V1_FAILED_404 = (
    '{"fetched_at":"2020-09-27T12:00:00.000000Z","kind":"not-found","not_before":null,'
    '"poll_id":"p3","reason":"https://example.org/gone answered HTTP 404 Not Found","source":"s"}'
)


def test_the_current_version_round_trips() -> None:
    failed = SourceFailed(
        source="s", poll_id="p", fetched_at=WHEN, kind="http-status", reason="r", http_status=502
    )
    entry = added("a")
    for event in (failed, entry):
        assert from_payload(event.type_name, SCHEMA_VERSION, to_payload(event)) == event


def test_version_1_failures_get_their_http_status_from_the_reason() -> None:
    answered = from_payload("SourceFailed", 1, V1_FAILED_503)
    assert isinstance(answered, SourceFailed)
    assert (answered.http_status, answered.kind) == (503, "http-status")
    assert answered.reason.endswith("(Retry-After: 120)")  # nothing else changed
    gone = from_payload("SourceFailed", 1, V1_FAILED_404)
    assert isinstance(gone, SourceFailed) and gone.http_status == 404
    silent = from_payload("SourceFailed", 1, V1_FAILED_TIMEOUT)
    assert isinstance(silent, SourceFailed) and silent.http_status is None


def test_version_1_entries_read_as_they_were_written() -> None:
    entry = added("a")
    v1 = json.loads(to_payload(entry))  # entries did not change shape in version 2
    assert from_payload("EntryAdded", 1, json.dumps(v1)) == entry


@pytest.mark.parametrize("version", [0, SCHEMA_VERSION + 1])
def test_unknown_versions_are_refused_with_what_this_build_reads(version: int) -> None:
    with pytest.raises(ValueError, match=f"unknown schema version {version} for SourceFailed"):
        from_payload("SourceFailed", version, V1_FAILED_503)


def test_a_log_holding_version_1_records_reads_folds_and_appends(sql_store: SqlStore) -> None:
    entry = added("a")
    old = [
        StoredEvent(1, entry.event_key, "EntryAdded", 1, WHEN, "s", to_payload(entry)),
        StoredEvent(2, "poll:s:p1", "SourceFailed", 1, WHEN, "s", V1_FAILED_503),
    ]
    sql_store.log.restore(old)
    written = sql_store.log.append([added("b", minute=5)])
    records = list(sql_store.log.read())
    # Stored versions are kept as written; reading upcasts.
    assert [r.schema_version for r in records] == [1, 1, SCHEMA_VERSION]
    assert records[1].payload == V1_FAILED_503
    failed = records[1].event()
    assert isinstance(failed, SourceFailed) and failed.http_status == 503
    assert records[1].recorded_at == parse_time("2020-09-27T12:00:00.000000Z")
    assert written[0].position == 3
    catch_up(sql_store.log, sql_store.read_model)
    state = sql_store.read_model.source("s")
    assert state is not None and state.consecutive_failures == 1
    assert state.last_error is not None and "HTTP 503" in state.last_error
    assert [e.key for e in sql_store.read_model.entries()] == ["b", "a"]
