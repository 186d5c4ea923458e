"""The `aggregator` command.

Exit status: 0 success; 1 the command ran but a source failed; 2 the command
could not run (bad configuration, bad arguments, unreachable database).
Errors are one line on stderr; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from aggregator import __version__
from aggregator.collect import PollSummary, collect_sources
from aggregator.config import Settings, config_path, load_settings
from aggregator.errors import AggregatorError
from aggregator.events import EntryEvent, SourceFailed, SourcePolled, format_time
from aggregator.projections import catch_up
from aggregator.publish.files import regenerate, render_merged, write_atomic
from aggregator.store import open_store
from aggregator.store.base import EventLog, ReadModel, SourceState, StoredEvent
from aggregator.store.memory import MemoryReadModel
from aggregator.store.sql import SqlStore

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_UNUSABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="Event-sourced live-blog and feed aggregator.",
    )
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $AGGREGATOR_CONFIG or config/aggregator.toml)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    collect = commands.add_parser("collect", help="poll every source once and regenerate the feeds")
    collect.add_argument("--source", metavar="NAME", help="poll only this source")

    feed = commands.add_parser("feed", help="write the merged Atom feed")
    feed.add_argument(
        "--as-of", metavar="POSITION|TIME", help="the feed as it was at a log position or ISO time"
    )
    feed.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")

    replay = commands.add_parser("replay", help="rebuild the projections from the log")
    replay.add_argument(
        "--until", metavar="POSITION|TIME", help="stop at a log position or ISO time"
    )

    events = commands.add_parser("events", help="list the event log")
    events.add_argument(
        "--since", metavar="POSITION", type=int, default=0, help="only events after POSITION"
    )
    events.add_argument("--json", action="store_true", help="JSON lines instead of a table")

    sources = commands.add_parser("sources", help="one row per source: last poll, outcome, entries")
    sources.add_argument("--json", action="store_true", help="JSON lines instead of a table")

    for name in ("run", "serve"):
        commands.add_parser(name, help="(arrives with the service: scheduler and web server)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("run", "serve"):
            raise AggregatorError(
                f"'{args.command}' is not available yet; use 'collect' on a schedule"
            )
        settings = load_settings(config_path(args.config))
        store = open_store(settings.database_url)
        try:
            return _COMMANDS[args.command](settings, store, args)
        finally:
            store.close()
    except AggregatorError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"aggregator: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130


def cmd_collect(settings: Settings, store: SqlStore, args: argparse.Namespace) -> int:
    chosen = [settings.source(args.source)] if args.source else list(settings.sources)
    summaries = asyncio.run(collect_sources(chosen, store.log, store.read_model, store.clock))
    path = regenerate(settings, store.read_model)
    width = max(len(s.source) for s in summaries)
    for s in summaries:
        print(f"{s.source:<{width}}  {_describe(s)}")
    total = min(_entry_total(store.read_model), settings.feed.max_entries)
    print(f"merged feed ({total} entries): {path}")
    return EXIT_SOURCE_FAILED if any(s.error for s in summaries) else EXIT_OK


def _entry_total(model: ReadModel) -> int:
    """Entries in the projection, from the per-source counts (no entry is read)."""
    return sum(state.entry_count for state in model.sources().values())


def _describe(summary: PollSummary) -> str:
    if summary.error:
        return f"error: {summary.error}"
    if summary.not_modified:
        return "not modified"
    return (
        f"new {summary.added}, revised {summary.revised}, unchanged {summary.unchanged}, errors 0"
    )


def _position(log: EventLog, value: str, option: str) -> int:
    """A log position given as a number or as an ISO time (naive means UTC)."""
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AggregatorError(
            f"{option}: expected a log position or an ISO time, got {value!r}"
        ) from None
    return log.position_at(when if when.tzinfo else when.replace(tzinfo=UTC))


def cmd_feed(settings: Settings, store: SqlStore, args: argparse.Namespace) -> int:
    if args.as_of is None:
        catch_up(store.log, store.read_model)
        document = render_merged(settings, store.read_model)
    else:
        model = MemoryReadModel()
        catch_up(store.log, model, upto=_position(store.log, args.as_of, "--as-of"))
        document = render_merged(settings, model)
    if args.output:
        write_atomic(Path(args.output), document)
    else:
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
    return EXIT_OK


def cmd_replay(settings: Settings, store: SqlStore, args: argparse.Namespace) -> int:
    head = store.log.head()
    upto = head if args.until is None else min(_position(store.log, args.until, "--until"), head)
    store.read_model.reset()
    folded = catch_up(store.log, store.read_model, upto=upto)
    path = regenerate(settings, store.read_model)
    count = _entry_total(store.read_model)
    print(f"folded {folded} events (positions 1-{upto} of {head}); {count} entries")
    if upto < head:
        print(f"projections stop at position {upto}; the next collect or feed catches them up")
    print(f"merged feed: {path}")
    return EXIT_OK


def cmd_events(settings: Settings, store: SqlStore, args: argparse.Namespace) -> int:
    for record in store.log.read(after=args.since):
        if args.json:
            line = {
                "position": record.position,
                "type": record.type,
                "recorded_at": format_time(record.recorded_at),
                "source": record.source,
                "key": record.event_key,
                "schema_version": record.schema_version,
                "payload": json.loads(record.payload),
            }
            print(json.dumps(line, ensure_ascii=False))
        else:
            when = format_time(record.recorded_at)
            print(f"{record.position:>8}  {when}  {record.type:<17}  {_gist(record)}")
    return EXIT_OK


def _gist(record: StoredEvent) -> str:
    event = record.event()
    if isinstance(event, EntryEvent):
        return f"{event.source} {event.key} v{event.version}: {event.title[:60]}"
    if isinstance(event, SourcePolled):
        counts = f"new {event.added}, revised {event.revised}, unchanged {event.unchanged}"
        return f"{event.source}: {counts}"
    if isinstance(event, SourceFailed):
        return f"{event.source}: {event.kind}: {event.reason}"
    return event.source


def cmd_sources(settings: Settings, store: SqlStore, args: argparse.Namespace) -> int:
    catch_up(store.log, store.read_model)
    states = store.read_model.sources()
    rows: list[dict[str, str | int | None]] = []
    for source in settings.sources:
        state = states.get(source.name) or SourceState(name=source.name)
        rows.append(
            {
                "name": source.name,
                "last_poll": format_time(state.last_polled_at) if state.last_polled_at else None,
                "outcome": state.last_outcome,
                "entries": state.entry_count,
                "failures": state.consecutive_failures,
                "error": state.last_error,
            }
        )
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return EXIT_OK
    header = ["SOURCE", "LAST POLL", "OUTCOME", "ENTRIES", "FAILURES", "LAST ERROR"]
    defaults = ["", "never", "-", "0", "0", ""]
    table = [header] + [
        [str(value if value is not None else defaults[i]) for i, value in enumerate(row.values())]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
    return EXIT_OK


_COMMANDS = {
    "collect": cmd_collect,
    "feed": cmd_feed,
    "replay": cmd_replay,
    "events": cmd_events,
    "sources": cmd_sources,
}

__all__ = ["main"]
