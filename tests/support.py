"""Plain helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aggregator.model import ExtractContext

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
AJ_SEED = "aljazeera-armenia-azerbaijan-2020-09-27.txt"
DK_SEED = "dailyknight-azerbaijan-invasion-2020-09-27.txt"
SCHEMA = Path(__file__).resolve().parent / "spec" / "atom.rng"


class ManualClock:
    """A clock tests move by hand, so recorded times are known in advance."""

    def __init__(self, start: datetime = datetime(2020, 9, 28, 0, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


EXTRACT_FETCHED_AT = datetime(2020, 9, 28, 0, 0, tzinfo=UTC)
EXTRACT_DAY = date(2020, 9, 27)


def extract_context(page_url: str, zone: str = "UTC", **overrides: Any) -> ExtractContext:
    """An extraction context for the seeds' day, fetched just after midnight UTC."""
    base = ExtractContext(
        source="test",
        page_url=page_url,
        fetched_at=EXTRACT_FETCHED_AT,
        timezone=ZoneInfo(zone),
        day=EXTRACT_DAY,
    )
    return replace(base, **overrides)
