"""The `aggregator` command: its parser and its one dispatch.

Exit status: 0 success; 1 the command ran but a source failed; 2 the command
could not run (bad configuration, bad arguments, unreachable database).
Errors are one line on stderr; `--debug` adds the traceback.

There is one dispatch: each subcommand's parser names its handler by its key
in `HANDLERS`, `main` imports the handler's module when the command runs,
and every handler takes one `cli_context.Context`, which loads the config
only when the handler first asks for it (see there, and `cli.database` for
the store).

The handlers' modules are imported by name, not at the top of this one,
because they import what their commands need: the store (SQLAlchemy and
SQLModel), httpx, lxml, feedparser, Starlette, uvicorn, APScheduler. With
all of them imported here, `aggregator --help` took 0.73 s, 0.64 s of it
importing modules it never used; now it imports the config and argparse
(0.85 s → 0.11 s, best of 20 on one loaded machine; CHANGELOG.md), and
`sources` the store besides, nothing it does not read with
(tests/test_cli_startup.py). It is the one import of ours that waits for a
function to run (tests/test_layout.py).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Mapping, Sequence

from aggregator import __version__
from aggregator.cli import logs, options
from aggregator.cli.context import EXIT_OK, EXIT_UNUSABLE, Context, Handler
from aggregator.config import FORMATS
from aggregator.core.errors import AggregatorError

# Each command's handler, as "module:function", its module imported only when
# the command runs; the parser names a handler by its key.
HANDLERS: Mapping[str, str] = {
    "collect": "aggregator.cli.collect:cmd_collect",
    "import": "aggregator.cli.collect:cmd_import",
    "replay": "aggregator.cli.collect:cmd_replay",
    "events": "aggregator.cli.history:cmd_events",
    "export": "aggregator.cli.history:cmd_export",
    "feed": "aggregator.cli.history:cmd_feed",
    "sources": "aggregator.cli.sources:cmd_sources",
    "run": "aggregator.cli.service:cmd_run",
    "serve": "aggregator.cli.service:cmd_run",
    "opml export": "aggregator.cli.subscriptions:cmd_opml_export",
    "opml import": "aggregator.cli.subscriptions:cmd_opml_import",
    "try": "aggregator.cli.onboard:cmd_try",
    "add": "aggregator.cli.onboard:cmd_add",
    "db": "aggregator.cli.database:cmd_db",
    "fixtures serve": "aggregator.cli.fixtures:cmd_fixtures_serve",
}


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
    collect.set_defaults(handler="collect")

    feed = commands.add_parser("feed", help="write the merged Atom feed")
    feed.add_argument(
        "--as-of",
        metavar="POSITION|TIME",
        type=options.position_or_time,
        help="the feed as it was at a log position or ISO time",
    )
    feed.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")
    feed.set_defaults(handler="feed")

    replay = commands.add_parser("replay", help="rebuild the projections from the log")
    replay.add_argument(
        "--until",
        metavar="POSITION|TIME",
        type=options.position_or_time,
        help="stop at a log position or ISO time",
    )
    replay.set_defaults(handler="replay")

    events = commands.add_parser("events", help="list the event log")
    events.add_argument(
        "--since",
        metavar="POSITION",
        type=options.log_position,
        default=0,
        help="only events after POSITION",
    )
    events.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    events.set_defaults(handler="events")

    export = commands.add_parser("export", help="write the whole log as JSON lines")
    export.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")
    export.set_defaults(handler="export")
    restore = commands.add_parser(
        "import", help="restore an export into an empty log, then rebuild the feeds"
    )
    restore.add_argument("file", metavar="FILE", help="an export (JSON lines); - for stdin")
    restore.set_defaults(handler="import")

    sources = commands.add_parser("sources", help="one row per source: last poll, outcome, entries")
    sources.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    options.add_shard_option(sources, "list only the sources of shard I of N")
    sources.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a listed source was never polled or is overdue (a health check)",
    )
    sources.add_argument(
        "--overdue",
        type=options.duration,
        default=600.0,
        metavar="DURATION",
        help="how late past its next poll a source counts as overdue (default: 10m)",
    )
    sources.set_defaults(handler="sources")

    for name, text in (
        ("run", "poll every source on its schedule and serve the feeds over HTTP"),
        ("serve", "serve the feeds over HTTP from the log, polling nothing"),
    ):
        service = commands.add_parser(name, help=text)
        service.set_defaults(handler=name)
        service.add_argument(
            "--host", help="address to listen on (default: [service] host, else 127.0.0.1)"
        )
        service.add_argument(
            "--port",
            type=options.port,
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
            options.add_shard_option(service, "poll only the sources that hash to shard I of N")

    subscriptions = commands.add_parser(
        "opml", help="the source list as OPML, the subscription format of feed readers"
    )
    formats = subscriptions.add_subparsers(dest="action", required=True, metavar="ACTION")
    opml_export = formats.add_parser("export", help="write every source as an OPML 2.0 outline")
    opml_export.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE, atomically (default: stdout)"
    )
    opml_export.set_defaults(handler="opml export")
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
    opml_import.set_defaults(handler="opml import")

    _add_onboarding(commands)  # `try URL` and `add URL --name NAME`

    database = commands.add_parser("db", help="the database schema")
    database.set_defaults(handler="db")
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
    live.add_argument("--port", type=options.port, default=8765, help="port (default: 8765)")
    live.add_argument(
        "--speed",
        type=options.speed,
        default=600.0,
        help="virtual seconds per real second (default: 600, ten minutes a second)",
    )
    live.add_argument(
        "--start", metavar="TIME", help="virtual start time (default: just before the first update)"
    )
    live.set_defaults(handler="fixtures serve")
    return parser


def _add_onboarding(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trying = commands.add_parser(
        "try",
        help="fetch a page as a poll would and show what it would record; writes nothing",
    )
    _source_options(trying)
    trying.set_defaults(handler="try")
    adding = commands.add_parser(
        "add", help="try a page, then append it to the config as a [[sources]] table"
    )
    _source_options(adding)
    adding.add_argument("--name", required=True, help="the source's name (it names its feed)")
    adding.add_argument("--title", help="the source's title (default: the page's own)")
    adding.add_argument("--interval", metavar="DURATION", help="how often to poll (default: 5m)")
    adding.add_argument(
        "--force", action="store_true", help="add it even when no update is found (yet)"
    )
    adding.set_defaults(handler="add")


def _source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="an http(s) URL, a file:// URL or a path")
    parser.add_argument(
        "--timezone",
        metavar="ZONE",
        help="the IANA zone the page's times are written in (default: UTC, with a note)",
    )
    parser.add_argument(
        "--date",
        metavar="DAY",
        help="the day of the earliest update, or a start time (2020-09-27, 2020-09-27T07:00)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="how to read the page (default: auto, decided from the bytes)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure_command(args.debug)  # `run` and `serve` configure their own
    ctx = Context(args)
    try:
        try:
            return _handler(args.handler)(ctx)
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


def _handler(name: str) -> Handler:
    """The handler `HANDLERS` names, its module imported now if it was not yet."""
    module, _, function = HANDLERS[name].partition(":")
    found: Handler = getattr(importlib.import_module(module), function)
    return found


__all__ = ["HANDLERS", "main"]
