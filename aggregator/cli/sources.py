"""`aggregator sources`: one row per configured source, from the read model.

It is also the health check a container runs (`--check`), often, so it
imports what it reads with and nothing else: no fetching, extraction,
publishing or web parts (tests/test_cli_startup.py).
"""

from __future__ import annotations

import json
import sys

from aggregator.cli.context import EXIT_OK, EXIT_SOURCE_FAILED, Context
from aggregator.cli.database import configured_store
from aggregator.core.events import format_time
from aggregator.engine.status import source_statuses
from aggregator.store.catchup import catch_up


def cmd_sources(ctx: Context) -> int:
    settings, args = ctx.settings, ctx.args
    store = configured_store(ctx)
    catch_up(store.log, store.read_model)
    now = store.clock()
    listed = args.shard.select(settings) if args.shard else settings
    rows: list[dict[str, str | int | None]] = []
    problems: list[str] = []
    for status in source_statuses(listed, store.read_model.sources()):
        due = status.next_poll
        if due is None:
            problems.append(f"{status.name}: never polled")
        elif (now - due).total_seconds() > args.overdue:
            problems.append(f"{status.name}: overdue, next poll was due at {format_time(due)}")
        rows.append(
            {
                "name": status.name,
                "last_poll": format_time(status.last_poll) if status.last_poll else None,
                "outcome": status.outcome,
                "next_poll": format_time(due) if due and (args.json or due > now) else None,
                "entries": status.entries,
                "failures": status.failures,
                "error": status.error,
                "error_kind": status.error_kind,
            }
        )
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        _print_table(rows)
    if args.check:
        for problem in problems:
            print(f"aggregator: {problem}", file=sys.stderr)
        return EXIT_SOURCE_FAILED if problems else EXIT_OK
    return EXIT_OK


def _print_table(rows: list[dict[str, str | int | None]]) -> None:
    header = ["SOURCE", "LAST POLL", "OUTCOME", "NEXT POLL", "ENTRIES", "FAILURES", "LAST ERROR"]
    defaults = ["", "never", "-", "due now", "0", "0", ""]
    table = [header] + [
        [str(value if value is not None else defaults[i]) for i, value in enumerate(shown.values())]
        for shown in map(_table_row, rows)
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())


def _table_row(row: dict[str, str | int | None]) -> dict[str, str | int | None]:
    """A `sources --json` row as the table shows it: the kind joins the outcome,
    `failed (no-updates)`, so a glance down one column tells failures apart."""
    shown = dict(row)
    kind = shown.pop("error_kind", None)
    if kind is not None:
        shown["outcome"] = f"{shown['outcome']} ({kind})"
    return shown


__all__ = ["cmd_sources"]
