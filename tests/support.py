"""Plain helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from aggregator.core.model import ExtractContext

if TYPE_CHECKING:
    from aggregator.cli.service import Service

T = TypeVar("T")

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


class LoopThread:
    """An asyncio event loop running on a thread of its own.

    The service's parts are coroutines on one loop; a test written as plain
    code (waiting, reading the log, calling `reload` as SIGHUP would from a
    worker thread) drives them through `run`, as uvicorn's loop would.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def running_service(service: Service) -> Iterator[LoopThread]:
    """`service` started on a loop thread (as `run` starts it), stopped on leaving."""
    loop = LoopThread()
    loop.run(service.start())
    try:
        yield loop
    finally:
        loop.run(service.stop())
        loop.close()


class HeldModel:
    """A real read model whose `method` waits for the test's word once `armed`:
    a way to catch a poll or a render halfway, on its own thread."""

    def __init__(self, model: object, method: str, armed: bool = True) -> None:
        self._model = model
        self._method = method
        self.armed = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()
        if armed:
            self.armed.set()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._model, name)
        if name != self._method or not self.armed.is_set():
            return found

        def held(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            self.release.wait(20)
            return found(*args, **kwargs)

        return held
