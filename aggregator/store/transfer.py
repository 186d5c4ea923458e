"""The log as JSON lines: `aggregator events --json` / `export` write it, `import` reads it.

One line per stored event, with everything needed to restore it exactly:
position, event key, type, schema version, the time the log recorded it and
the payload (as a JSON object). Importing restores those values rather than
appending afresh, so a replay of the import gives the same projections and
the same feed bytes as the original log.

Every line is checked before anything is written: valid JSON, the fields
present with the right types, positions 1, 2, 3, ... without a gap, unique
event keys, and a payload its event type and schema version can be read
from. A problem is an `ImportProblem` naming the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from aggregator.core.errors import AggregatorError
from aggregator.core.events import format_time, from_payload, parse_time, to_payload
from aggregator.core.states import StoredEvent


class ImportProblem(AggregatorError):
    """A line of an export that cannot be restored."""

    def __init__(self, where: str, number: int, problem: str) -> None:
        super().__init__(f"{where}: line {number}: {problem}")


def record_line(record: StoredEvent) -> str:
    return json.dumps(
        {
            "position": record.position,
            "type": record.type,
            "recorded_at": format_time(record.recorded_at),
            "source": record.source,
            "key": record.event_key,
            "schema_version": record.schema_version,
            "payload": json.loads(record.payload),
        },
        ensure_ascii=False,
    )


_FIELDS: dict[str, type] = {
    "position": int,
    "type": str,
    "recorded_at": str,
    "source": str,
    "key": str,
    "schema_version": int,
    "payload": dict,
}


def read_records(lines: Iterable[str], where: str) -> Iterator[StoredEvent]:
    """Parse and check an export, line by line (blank lines are skipped)."""
    expected = 1
    keys: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record = _record(line, number, where)
        if record.position != expected:
            raise ImportProblem(
                where, number, f"position {record.position} where {expected} was expected"
            )
        if record.event_key in keys:
            raise ImportProblem(where, number, f"event key {record.event_key!r} appears twice")
        keys.add(record.event_key)
        expected += 1
        yield record


def _record(line: str, number: int, where: str) -> StoredEvent:
    try:
        data: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ImportProblem(where, number, f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ImportProblem(where, number, "expected a JSON object")
    for name, kind in _FIELDS.items():
        value = data.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ImportProblem(where, number, f"{name}: expected {kind.__name__}, got {value!r}")
    try:
        event = from_payload(data["type"], data["schema_version"], json.dumps(data["payload"]))
        recorded_at = parse_time(data["recorded_at"])
    except (ValueError, TypeError) as exc:
        raise ImportProblem(where, number, str(exc)) from None
    if event.event_key != data["key"] or event.source != data["source"]:
        raise ImportProblem(where, number, "key or source does not match the payload")
    return StoredEvent(
        position=data["position"],
        event_key=data["key"],
        type=data["type"],
        schema_version=data["schema_version"],
        recorded_at=recorded_at,
        source=data["source"],
        payload=to_payload(event),
    )
