"""`aggregator opml export` and `aggregator opml import`: the source list as
OPML and back, over the steps of the `opml` package. Neither opens the store."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from aggregator.cli import opml
from aggregator.cli.context import EXIT_OK, Context
from aggregator.cli.output import emit
from aggregator.core.errors import AggregatorError


def cmd_opml_export(ctx: Context) -> int:
    """The sources as OPML, for a feed reader or another aggregator."""
    emit(opml.export_opml(ctx.settings, datetime.now(UTC)), ctx.args.output)
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


__all__ = ["cmd_opml_export", "cmd_opml_import"]
