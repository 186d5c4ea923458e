"""The baselines of `bench.process`, each a whole process of its own.

    python -m bench.baselines reader cold|warm DATABASE URLS
    python -m bench.baselines get cold|warm URLS ETAGS
    python -m bench.baselines timer

Each prints one JSON line saying what it did, for the parent to check (a
baseline that did not do the whole job would flatter nobody honestly).

- `reader`: the peer, the `reader` library. `make_reader(DATABASE)`; cold,
  `add_feed` for every URL; then `update_feeds_iter(workers=8,
  scheduled=False)`, which is what `update_feeds(...)` runs, keeping each
  feed's result to check it (cold: every feed updated; warm: every one not
  modified). `scheduled=False` because reader 3.26 by default updates only
  the feeds that are due, and a warm update right after a cold one would
  then fetch nothing and take a millisecond. Reports the seconds of the
  update alone and its own peak resident set.
- `get`: the floors, a bare `httpx.AsyncClient` loop (`bench.fanout.bare_cycle`,
  8 at once over a pool of 8). Cold: plain GETs, each body parsed with
  `feedparser.parse` (every feed must come out whole), the ETags written to
  ETAGS; warm: the same GETs with those ETags as If-None-Match (every answer
  a 304).
- `timer`: until SIGTERM, an asyncio loop sleeping to a due time every
  0.1 s; reports how late it woke. Run beside the service, it is the floor
  of "how late a poll starts" on this machine at that moment.

Only what each kind uses is imported, where it is used: the reader's
process never pays for httpx, nor any of them for the aggregator.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import p95

CONCURRENCY = 8
TICK = 0.1


def reader(mode: str, database: Path, urls: list[str]) -> dict[str, Any]:
    from reader import make_reader

    library = make_reader(str(database))
    try:
        if mode == "cold":
            for url in urls:
                library.add_feed(url)
        started = time.perf_counter()
        results = list(library.update_feeds_iter(workers=CONCURRENCY, scheduled=False))
        seconds = time.perf_counter() - started
        failed = [f"{r.url}: {r.value!r}" for r in results if isinstance(r.value, Exception)]
        return {
            "update_seconds": seconds,
            "feeds": len(results),
            "updated": sum(1 for r in results if r.value is not None) - len(failed),
            "not_modified": sum(1 for r in results if r.value is None),
            "failed": failed[:3],
            "broken": sum(1 for _ in library.get_feeds(broken=True)),
            "entries": library.get_entry_counts().total,
            "peak_kb": _own_peak_kb(),
        }
    finally:
        library.close()


def get(mode: str, urls: list[str], etags_file: Path) -> dict[str, Any]:
    from bench.fanout import bare_cycle

    if mode == "warm":
        etags = json.loads(etags_file.read_text(encoding="utf-8"))
        asyncio.run(bare_cycle(urls, etags, CONCURRENCY))
        return {"requests": len(urls), "status": 304}
    import feedparser

    entries: list[int] = []

    def parse(body: bytes) -> None:
        parsed = feedparser.parse(body)
        if parsed.bozo:
            raise RuntimeError(f"feedparser: {parsed.bozo_exception}")
        entries.append(len(parsed.entries))

    etags = asyncio.run(bare_cycle(urls, None, CONCURRENCY, parse))
    etags_file.write_text(json.dumps(etags), encoding="utf-8")
    return {"requests": len(urls), "status": 200, "entries": sum(entries)}


async def _oversleeps() -> list[float]:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    late: list[float] = []
    due = loop.time()
    while not stop.is_set():
        due += TICK
        await asyncio.sleep(max(0.0, due - loop.time()))
        late.append(loop.time() - due)
    return late


def timer() -> dict[str, Any]:
    late = asyncio.run(_oversleeps())
    return {
        "ticks": len(late),
        "max": max(late, default=0.0),
        "p95": p95(late),
    }


def _own_peak_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])


def _urls(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8").split()


def main(args: list[str]) -> dict[str, Any]:
    kind = args[0]
    if kind == "reader":
        return reader(args[1], Path(args[2]), _urls(args[3]))
    if kind == "get":
        return get(args[1], _urls(args[2]), Path(args[3]))
    if kind == "timer":
        return timer()
    raise SystemExit(f"bench.baselines: unknown kind {kind!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
