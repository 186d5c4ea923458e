"""The `aggregator` command.

Exit status: 0 success; 1 the command ran but a source failed; 2 the command
could not run (bad configuration, bad arguments, unreachable database).
Errors are one line on stderr; `--debug` adds the traceback.

There is one dispatch: each subcommand's parser names its handler
(`set_defaults(handler=...)`), and every handler takes one
`cli_context.Context`, which loads the config and opens the store only when
the handler first asks for them (see there for which commands do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from aggregator import __version__
from aggregator.cli import logs, opml
from aggregator.cli import onboard as cli_onboard
from aggregator.cli.context import (
    EXIT_OK,
    EXIT_SOURCE_FAILED,
    EXIT_UNUSABLE,
    Context,
    Handler,
    open_configured_store,
)
from aggregator.config import Settings, parse_duration
from aggregator.config.shard import Shard
from aggregator.core.errors import AggregatorError
from aggregator.core.events import EntryEvent, SourceFailed, SourcePolled, StoryLinked, format_time
from aggregator.core.states import StoredEvent
from aggregator.engine.polls import collect_once
from aggregator.engine.status import source_statuses
from aggregator.follow.runner import file_runner
from aggregator.ingest.poll import PollSummary
from aggregator.publish import catalog
from aggregator.publish.catalog import Address
from aggregator.publish.files import render_merged, write_atomic, write_stream
from aggregator.store import migrations
from aggregator.store.base import EventLog, ReadModel
from aggregator.store.catchup import catch_up
from aggregator.store.memory import MemoryReadModel
from aggregator.store.transfer import read_records, record_line

EXPORT_BATCH = 5000


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
    collect.set_defaults(handler=cmd_collect)

    feed = commands.add_parser("feed", help="write the merged Atom feed")
    feed.add_argument(
        "--as-of",
        metavar="POSITION|TIME",
        type=_position_or_time,
        help="the feed as it was at a log position or ISO time",
    )
    feed.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")
    feed.set_defaults(handler=cmd_feed)

    replay = commands.add_parser("replay", help="rebuild the projections from the log")
    replay.add_argument(
        "--until",
        metavar="POSITION|TIME",
        type=_position_or_time,
        help="stop at a log position or ISO time",
    )
    replay.set_defaults(handler=cmd_replay)

    events = commands.add_parser("events", help="list the event log")
    events.add_argument(
        "--since",
        metavar="POSITION",
        type=_log_position,
        default=0,
        help="only events after POSITION",
    )
    events.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    events.set_defaults(handler=cmd_events)

    export = commands.add_parser("export", help="write the whole log as JSON lines")
    export.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")
    export.set_defaults(handler=cmd_export)
    restore = commands.add_parser(
        "import", help="restore an export into an empty log, then rebuild the feeds"
    )
    restore.add_argument("file", metavar="FILE", help="an export (JSON lines); - for stdin")
    restore.set_defaults(handler=cmd_import)

    sources = commands.add_parser("sources", help="one row per source: last poll, outcome, entries")
    sources.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    _add_shard_option(sources, "list only the sources of shard I of N")
    sources.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a listed source was never polled or is overdue (a health check)",
    )
    sources.add_argument(
        "--overdue",
        type=_duration,
        default=600.0,
        metavar="DURATION",
        help="how late past its next poll a source counts as overdue (default: 10m)",
    )
    sources.set_defaults(handler=cmd_sources)

    for name, text in (
        ("run", "poll every source on its schedule and serve the feeds over HTTP"),
        ("serve", "serve the feeds over HTTP from the log, polling nothing"),
    ):
        service = commands.add_parser(name, help=text)
        service.set_defaults(handler=cmd_run)
        service.add_argument(
            "--host", help="address to listen on (default: [service] host, else 127.0.0.1)"
        )
        service.add_argument(
            "--port",
            type=_port,
            help="port to listen on; 0 picks a free one (default: [service] port, else 8080)",
        )
        service.add_argument(
            "--log-format", choices=("text", "json"), default="text", help="log line format"
        )
        if name == "run":
            service.add_argument(
                "--collector-only",
                action="store_true",
                help="poll and append, serve nothing (for several collectors on one log)",
            )
            _add_shard_option(service, "poll only the sources that hash to shard I of N")

    subscriptions = commands.add_parser(
        "opml", help="the source list as OPML, the subscription format of feed readers"
    )
    formats = subscriptions.add_subparsers(dest="action", required=True, metavar="ACTION")
    opml_export = formats.add_parser("export", help="write every source as an OPML 2.0 outline")
    opml_export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE, atomically (default: stdout)"
    )
    opml_export.set_defaults(handler=cmd_opml_export)
    opml_import = formats.add_parser(
        "import", help="append the feeds of an OPML file to the config as [[sources]] tables"
    )
    opml_import.add_argument("file", metavar="FILE", help="an OPML file; - for stdin")
    opml_import.add_argument(
        "--dry-run",
        action="store_true",
        help="print the TOML that would be appended, and change nothing",
    )
    opml_import.add_argument(
        "--allow-files",
        action="store_true",
        help="also import file: URLs and paths (refused by default: the feed publishes "
        "what a source reads)",
    )
    opml_import.set_defaults(handler=cmd_opml_import)

    cli_onboard.add_parsers(commands)  # `try URL` and `add URL --name NAME`

    database = commands.add_parser("db", help="the database schema")
    database.set_defaults(handler=cmd_db)
    steps = database.add_subparsers(dest="action", required=True, metavar="ACTION")
    steps.add_parser("upgrade", help="create the schema or upgrade it to the newest revision")
    steps.add_parser("status", help="the schema revision and the log's head position")

    fixtures = commands.add_parser("fixtures", help="offline fixtures for trying the service")
    actions = fixtures.add_subparsers(dest="action", required=True, metavar="ACTION")
    live = actions.add_parser(
        "serve",
        help="serve the config's file sources over HTTP as they grew, on an accelerated clock",
    )
    live.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    live.add_argument("--port", type=_port, default=8765, help="port (default: 8765)")
    live.add_argument(
        "--speed",
        type=_speed,
        default=600.0,
        help="virtual seconds per real second (default: 600, ten minutes a second)",
    )
    live.add_argument(
        "--start", metavar="TIME", help="virtual start time (default: just before the first update)"
    )
    live.set_defaults(handler=cmd_fixtures_serve)
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def _log_position(text: str) -> int:
    """A log position: 0 or more (a negative one would silently mean "all")."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a log position (0 or more), got {text!r}")
    return int(text)


def _position_or_time(text: str) -> str:
    """`--as-of`/`--until`, checked by argparse before any database is opened
    (opening one creates it); `_position` turns it into a position later."""
    if text.isascii() and text.isdigit():
        return text
    try:
        _iso_time(text, "")
    except AggregatorError:
        raise argparse.ArgumentTypeError(
            f"expected a log position or an ISO time such as 2020-09-28T00:30:00Z, got {text!r}"
        ) from None
    return text


def _add_shard_option(parser: argparse.ArgumentParser, text: str) -> None:
    """`--shard I/N`, defaulting to $AGGREGATOR_SHARD: a container sets it once
    for both its collector and its health check."""
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        default=os.environ.get("AGGREGATOR_SHARD") or None,
        help=f"{text} (default: $AGGREGATOR_SHARD, else all)",
    )


def _duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds is None or seconds < 0:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as '90s' or '10m', got {text!r}"
        )
    return seconds


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"expected a speed from 0 to 1000000, got {text!r}")
    return value


def _iso_time(value: str, option: str) -> datetime:
    """An ISO time from the command line; naive means UTC."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AggregatorError(f"{option}: expected an ISO time, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _progress(text: str, done: bool = False) -> None:
    """A self-overwriting status line on a terminal; nothing when stderr is a file."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[K{text}" + ("\n" if done else ""))
        sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure_command(args.debug)  # `run` and `serve` configure their own
    ctx = Context(args)
    try:
        try:
            handler: Handler = args.handler
            return handler(ctx)
        finally:
            ctx.close()
    except AggregatorError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"aggregator: error: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`aggregator events | head`): not an error of
        # ours. Point stdout at /dev/null so the interpreter's final flush
        # does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # A file the command had to write or read (a feed, --output, the import
        # file's directory) refused: one line naming it, as for any other error.
        if args.debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"aggregator: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNUSABLE


def cmd_fixtures_serve(ctx: Context) -> int:
    """Serves the config's file sources; no database is opened."""
    args = ctx.args
    settings = ctx.settings
    start = _iso_time(args.start, "--start") if args.start else None
    from aggregator.devtools.fixtures import serve_fixtures

    serve_fixtures(settings, args.host, args.port, args.speed, start)
    return EXIT_OK


def cmd_db(ctx: Context) -> int:
    """Schema work on purpose (every other command also upgrades on opening), so
    the store is its own, opened without migrating."""
    settings, args = ctx.settings, ctx.args
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    store = open_configured_store(settings, migrate=False)
    try:
        if args.action == "upgrade":
            before, after = store.create_schema()
            if before == after:
                print(f"{shown}: at revision {after}, nothing to do")
            else:
                print(f"{shown}: upgraded from {before or 'an empty database'} to revision {after}")
            return EXIT_OK
        with store.engine.connect() as connection:
            current = migrations.revision(connection)
        state = "up to date" if current == migrations.HEAD else "needs 'aggregator db upgrade'"
        print(f"{shown}: revision {current or 'none'} (newest {migrations.HEAD}; {state})")
        if current is not None:
            print(f"log head: position {store.log.head()}")
        return EXIT_OK if current == migrations.HEAD else EXIT_SOURCE_FAILED
    finally:
        store.close()


def cmd_run(ctx: Context) -> int:
    args, settings = ctx.args, ctx.settings
    # The log lines' format first, before anything of the service can log.
    logs.configure(args.log_format, logging.DEBUG if args.debug else logging.INFO)
    store = ctx.store
    polling = args.command == "run"
    # The service's parts (uvicorn, Starlette, APScheduler, prometheus_client) are
    # imported here, not at start-up: the one-shot commands never need them.
    from aggregator.cli.service import Service, run_collector, run_foreground

    service = Service.build(settings, store, poll=polling, shard=args.shard if polling else None)
    if polling and args.collector_only:
        return run_collector(service)
    host = args.host or settings.service.host
    port = settings.service.port if args.port is None else args.port
    return run_foreground(service, host, port)


def cmd_collect(ctx: Context) -> int:
    settings, args = ctx.settings, ctx.args
    chosen = [settings.source(args.source)] if args.source else list(settings.sources)
    store = ctx.store  # only now: an unknown --source fails before the database is made
    done: list[PollSummary] = []

    def progress(summary: PollSummary) -> None:
        done.append(summary)
        _progress(f"polled {len(done)}/{len(chosen)}: {summary.source}", len(done) == len(chosen))

    # Made before the polls: its story linker follows what they append.
    runner = file_runner(settings, store.log, store.read_model)
    summaries = asyncio.run(
        collect_once(settings.service, chosen, store.log, store.read_model, store.clock, progress)
    )
    before = store.log.head()
    runner.run()
    links = [r for r in store.log.read(after=before) if r.type == StoryLinked.type_name]
    width = max(len(s.source) for s in summaries)
    for s in summaries:
        print(f"{s.source:<{width}}  {_describe(s)}")
    if links:
        stories = {getattr(record.event(), "story", None) for record in links}
        print(f"stories: {len(links)} entries linked into {len(stories)} cross-outlet stories")
    total = min(_entry_total(store.read_model), settings.feed.max_entries)
    print(f"merged feed ({total} entries): {_merged_file(settings)}")
    return EXIT_SOURCE_FAILED if any(s.error for s in summaries) else EXIT_OK


def _merged_file(settings: Settings) -> Path | None:
    """The merged Atom feed's file, the one a command reports."""
    return catalog.file(settings, Address(catalog.MERGED_ATOM))


def _entry_total(model: ReadModel) -> int:
    """Entries in the projection, from the per-source counts (no entry is read)."""
    return sum(state.entry_count for state in model.sources().values())


def _describe(summary: PollSummary) -> str:
    if summary.error:
        kind = f" ({summary.error_kind})" if summary.error_kind else ""
        return f"error{kind}: {summary.error}"
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
        return log.position_at(_iso_time(value, option))
    except AggregatorError:
        raise AggregatorError(
            f"{option}: expected a log position or an ISO time, got {value!r}"
        ) from None


def cmd_feed(ctx: Context) -> int:
    settings, store, args = ctx.settings, ctx.store, ctx.args
    if args.as_of is None:
        catch_up(store.log, store.read_model)
        document = render_merged(settings, store.read_model)
    else:
        model = MemoryReadModel()
        catch_up(store.log, model, upto=_position(store.log, args.as_of, "--as-of"))
        document = render_merged(settings, model)
    _emit(document, args.output)
    return EXIT_OK


def _emit(document: bytes, output: str | None) -> None:
    """Write a document to `output` atomically, or to stdout when there is none."""
    if output:
        write_atomic(Path(output), document)
    else:
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()


def cmd_replay(ctx: Context) -> int:
    settings, store, args = ctx.settings, ctx.store, ctx.args
    head = store.log.head()
    upto = head if args.until is None else min(_position(store.log, args.until, "--until"), head)
    store.read_model.reset()

    def progress(reached: int) -> None:
        _progress(f"replaying: position {reached} of {upto}")

    file_runner(settings, store.log, store.read_model, progress).run(upto)
    folded = store.read_model.checkpoint()  # folded from 0: the model was reset
    _progress(f"replayed {folded} events", done=True)
    count = _entry_total(store.read_model)
    print(f"folded {folded} events (positions 1-{upto} of {head}); {count} entries")
    if upto < head:
        print(f"projections stop at position {upto}; the next collect or feed catches them up")
    print(f"merged feed: {_merged_file(settings)}")
    return EXIT_OK


def cmd_events(ctx: Context) -> int:
    store, args = ctx.store, ctx.args
    for record in store.log.read(after=args.since):
        if args.json:
            print(record_line(record))
        else:
            when = format_time(record.recorded_at)
            print(f"{record.position:>8}  {when}  {record.type:<17}  {_gist(record)}")
    return EXIT_OK


def cmd_export(ctx: Context) -> int:
    """The log in the `events --json` format, read in batches, written atomically to a file."""
    store, args = ctx.store, ctx.args
    lines = _export_lines(store.log)
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


def cmd_import(ctx: Context) -> int:
    settings, store, args = ctx.settings, ctx.store, ctx.args
    where = "stdin" if args.file == "-" else args.file
    try:
        handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise AggregatorError(f"cannot read {where}: {exc.strerror or exc}") from None
    with handle:
        count = store.log.restore(read_records(handle, where))

    def progress(at: int) -> None:
        _progress(f"folding: {at}/{count}")

    file_runner(settings, store.log, store.read_model, progress).run()
    _progress(f"folded {count} events", done=True)
    print(f"imported {count} events; {_entry_total(store.read_model)} entries")
    print(f"merged feed: {_merged_file(settings)}")
    return EXIT_OK


def cmd_opml_export(ctx: Context) -> int:
    """The sources as OPML, for a feed reader or another aggregator; no database is opened."""
    _emit(opml.export_opml(ctx.settings, datetime.now(UTC)), ctx.args.output)
    return EXIT_OK


def cmd_opml_import(ctx: Context) -> int:
    """Append an OPML file's feeds to the config; notes on stderr, the result on stdout.

    The config is not loaded first: it may have no sources yet (the import is
    what fills it); the file it would become is loaded instead.
    Skipped outlines (already configured, duplicates, not a feed) are normal in
    a reader's export and do not fail the command; a file that cannot be
    parsed, or a result the config loader refuses, does, and writes nothing.
    """
    config, args = ctx.config_path, ctx.args
    where = "stdin" if args.file == "-" else args.file
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read(opml.MAX_BYTES + 1)
        else:
            with open(args.file, "rb") as handle:
                data = handle.read(opml.MAX_BYTES + 1)
    except OSError as exc:
        raise AggregatorError(f"cannot read {where}: {exc.strerror or exc}") from None
    document = opml.read_opml(data, where)
    before, existing = opml.existing_sources(config)
    base = Path.cwd() if args.file == "-" else Path(args.file).parent
    plan = opml.plan_import(document, where, config, existing, args.allow_files, base)
    tables = opml.render_tables(plan, Path(where).name)
    if plan.added:
        opml.apply_import(config, before, tables, plan, where, dry_run=args.dry_run)
    # The notes only now: a failed import is one line, like every other error.
    for note in plan.notes:
        print(f"aggregator: {note}", file=sys.stderr)
    if document.folders:
        print(
            f"aggregator: {where}: {_count(document.folders, 'folder')} not kept: the config "
            "has no categories, so each table notes its folder in a comment",
            file=sys.stderr,
        )
    if not plan.added:
        print(f"nothing imported from {where}: {_count(len(document.outlines), 'feed')}, none new")
        return EXIT_OK
    names = ", ".join(new.name for new in plan.added)
    if args.dry_run:
        sys.stdout.write(tables)
        print(
            f"aggregator: dry run: {_count(len(plan.added), 'source')} would be added to {config} "
            f"({names}); nothing was written",
            file=sys.stderr,
        )
    else:
        print(f"added {_count(len(plan.added), 'source')} to {config}: {names}")
    return EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


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


def cmd_sources(ctx: Context) -> int:
    settings, store, args = ctx.settings, ctx.store, ctx.args
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


__all__ = ["main"]
