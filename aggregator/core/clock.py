"""The wall clock, in one place: everything that needs the time takes a clock
argument defaulting to this, so tests and replays can pass their own."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
