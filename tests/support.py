"""Plain helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

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
