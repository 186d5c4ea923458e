"""Every benchmark in one go: `python -m bench.run [--quick]` (`make bench`, `make bench-quick`).

Runs each module of `BENCHMARKS` (one whose outside tools, such as nginx or
wrk, are not installed is skipped with a note), collects their figures, prints one table and writes
`var/bench/all.json` and `var/bench/all.md` (`all-quick.*` with `--quick`, so
a smoke run never overwrites the real figures). A benchmark that fails is
reported and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

from bench.common import Figure, report, table
from bench.nginx import ToolMissing, missing_tools

# In the order they run (the smoke test runs the same list).
BENCHMARKS = [
    "ingest",
    "feed_regen",
    "replay",
    "fanout",
    "peer",
    "serving",
    "stories",
    "extract_speed",
    "process",
]


def run_all(quick: bool) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    failed: list[str] = []
    for name in BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        absent = missing_tools(getattr(module, "REQUIRES", ()))
        if absent:
            print(
                f"bench.run: skipped {name}: {' and '.join(absent)} not installed "
                "(apt-get install -y nginx-light wrk)",
                flush=True,
            )
            continue
        print(f"bench.run: {name}{' (quick)' if quick else ''} ...", flush=True)
        started = time.perf_counter()
        try:
            found = module.run(quick)
        except ToolMissing as exc:
            print(f"bench.run: skipped {name}: {exc}", flush=True)
            continue
        except Exception:
            traceback.print_exc()
            print(f"bench.run: {name} FAILED", flush=True)
            failed.append(name)
            continue
        print(
            f"bench.run: {name}: {len(found)} figures in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        figures.extend(found)
    return figures, failed


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    started = time.perf_counter()
    figures, failed = run_all(quick)
    print()
    print(table(figures), end="")
    print(f"results: {report(figures, 'all-quick' if quick else 'all')}")
    print(f"bench.run: {time.perf_counter() - started:.1f}s in all")
    if failed:
        print(f"bench.run: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
