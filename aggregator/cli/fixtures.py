"""`aggregator fixtures serve`: the config's file sources over HTTP as they
grew (`devtools.fixtures`); no database is opened."""

from __future__ import annotations

from aggregator.cli.context import EXIT_OK, Context
from aggregator.cli.options import iso_time
from aggregator.devtools.fixtures import serve_fixtures


def cmd_fixtures_serve(ctx: Context) -> int:
    args = ctx.args
    settings = ctx.settings
    start = iso_time(args.start, "--start") if args.start else None
    serve_fixtures(settings, args.host, args.port, args.speed, start)
    return EXIT_OK


__all__ = ["cmd_fixtures_serve"]
