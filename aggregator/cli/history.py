"""`aggregator events`, `export` and `feed`: the log read out, as it is or as
it was (`feed --as-of` folds it into a read model in memory)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from aggregator.cli.context import EXIT_OK, Context
from aggregator.cli.database import configured_store
from aggregator.cli.options import position
from aggregator.cli.output import emit
from aggregator.core.events import EntryEvent, SourceFailed, SourcePolled, StoryLinked, format_time
from aggregator.core.files import write_stream
from aggregator.core.states import StoredEvent
from aggregator.publish.files import render_merged
from aggregator.store.base import EventLog
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryReadModel
from aggregator.store.transfer import record_line

EXPORT_BATCH = 5000


def cmd_feed(ctx: Context) -> int:
    settings, args = ctx.settings, ctx.args
    store = configured_store(ctx)
    if args.as_of is None:
        catch_up(store.log, store.read_model)
        document = render_merged(settings, store.read_model)
    else:
        model = MemoryReadModel()
        catch_up(store.log, model, upto=position(store.log, args.as_of, "--as-of"))
        document = render_merged(settings, model)
    emit(document, args.output)
    return EXIT_OK


def cmd_events(ctx: Context) -> int:
    args = ctx.args
    store = configured_store(ctx)
    for record in store.log.read(after=args.since):
        if args.json:
            print(record_line(record))
        else:
            when = format_time(record.recorded_at)
            print(f"{record.position:>8}  {when}  {record.type:<17}  {_gist(record)}")
    return EXIT_OK


def cmd_export(ctx: Context) -> int:
    """The log in the `events --json` format, read in batches, written atomically to a file."""
    args = ctx.args
    lines = _export_lines(configured_store(ctx).log)
    if args.output:
        write_stream(Path(args.output), (f"{line}\n".encode() for line in lines))
    else:
        for line in lines:
            sys.stdout.write(line + "\n")
    return EXIT_OK


def _export_lines(log: EventLog) -> Iterator[str]:
    after = 0
    while batch := list(log.read(after=after, limit=EXPORT_BATCH)):
        yield from (record_line(record) for record in batch)
        after = batch[-1].position


def _gist(record: StoredEvent) -> str:
    event = record.event()
    if isinstance(event, EntryEvent):
        return f"{event.source} {event.key} v{event.version}: {event.title[:60]}"
    if isinstance(event, SourcePolled):
        counts = f"new {event.added}, revised {event.revised}, unchanged {event.unchanged}"
        return f"{event.source}: {counts}"
    if isinstance(event, SourceFailed):
        return f"{event.source}: {event.kind}: {event.reason}"
    if isinstance(event, StoryLinked):
        others = ", ".join(event.matched)
        return (
            f"{event.source} {event.key} joins {event.story} (score {event.score}; with {others})"
        )
    return event.source


__all__ = ["cmd_events", "cmd_export", "cmd_feed"]
