"""`aggregator try URL` and `aggregator add URL --name NAME`: a page tried before
subscribing to it, then subscribed to (what they share is in `cli.onboarding`).

`try` needs no config file and opens no database: it fetches the page as a
poll would and prints the reading it used, every update the first poll would
record, the notes, and a `[[sources]]` table to paste. `add` does the same
detection and appends that table to the config file; a running service
follows on SIGHUP. Both exit 0 when updates were found and 1, with one line,
when none were or the page could not be fetched; bad options or a config
that would not load are 2, as for every command (see `aggregator.cli`).
Their parsers are in `cli.main` with every other command's; each handler
takes a `cli_context.Context`, as every other command's does.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from aggregator.cli import onboarding as onboard
from aggregator.cli.context import EXIT_OK, Context
from aggregator.cli.context import EXIT_SOURCE_FAILED as EXIT_NO_UPDATES
from aggregator.cli.onboarding import Trial, Wanted
from aggregator.config import SourceConfig
from aggregator.core.errors import ConfigError

_OPTIONS = {
    "url": "URL",
    "name": "--name",
    "format": "--format",
    "timezone": "--timezone",
    "date": "--date",
    "title": "--title",
    "interval": "--interval",
}


def cmd_try(ctx: Context) -> int:
    """Needs no config file and opens no database; errors are raised as
    `AggregatorError` for `cli.main`, as for every command."""
    args = ctx.args
    url = onboard.resolve_url(args.url, Path.cwd())
    wanted = Wanted(
        url=url,
        name=onboard.suggest_name(url),
        format=args.format,
        timezone=args.timezone,
        date=args.date,
    )
    source = _option_checked(onboard.render_table(wanted))
    tried = asyncio.run(onboard.trial(source))
    if not tried.found:
        print(f"aggregator: {tried.reason()}", file=sys.stderr)
        return EXIT_NO_UPDATES
    table = _final_table(wanted, tried, f"Tried on {_today()}: {_gist(tried)}.")
    _option_checked(table)  # what is printed is what the loader accepts
    out = sys.stdout
    _print_trial(tried, wanted, out)
    out.write("\n# For the config file (`aggregator add URL --name NAME ...` appends it):\n")
    out.write(table)
    return EXIT_OK


def cmd_add(ctx: Context) -> int:
    """The config is not loaded first (this may give it its first source): the
    file it would become is checked instead; no database is opened."""
    config, args = ctx.config_path, ctx.args
    wanted = Wanted(
        url=onboard.resolve_url(args.url, Path.cwd()),
        name=args.name,
        format=args.format,
        timezone=args.timezone,
        date=args.date,
        title=args.title,
        interval=args.interval,
    )
    addition = onboard.prepare_addition(config, wanted)
    tried = asyncio.run(onboard.trial(addition.source))
    if not tried.found and not args.force:
        print(
            f"aggregator: {tried.reason()}; nothing was written to {config} "
            "(--force adds it anyway)",
            file=sys.stderr,
        )
        return EXIT_NO_UPDATES
    if not tried.found:
        print(f"aggregator: {tried.reason()}; added all the same (--force)", file=sys.stderr)
    comment = f"Added by `aggregator add` on {_today()}: {_gist(tried)}."
    source = onboard.commit_addition(addition, _final_table(wanted, tried, comment))
    if wanted.zone_assumed:
        print(f"aggregator: note: {onboard.ZONE_NOTE}", file=sys.stderr)
    print(
        f"added source {source.name!r} to {config}: {_gist(tried)} "
        f"(format {source.format}, timezone {source.timezone.key})"
    )
    print("a running service picks it up on SIGHUP: kill -HUP <pid of aggregator run>")
    return EXIT_OK


def _option_checked(table: str) -> SourceConfig:
    """The source a table gives, a refused value reported as the option that set it."""
    try:
        return onboard.checked_source(table, "aggregator")
    except ConfigError as exc:
        option = _OPTIONS.get((exc.key or "").rsplit(".", 1)[-1])
        if option is None:
            raise
        raise ConfigError(option, None, exc.problem) from None


def _final_table(wanted: Wanted, tried: Trial, comment: str) -> str:
    """The table with what the trial learnt: the format the page was read as (so
    every poll reads it the same way) and, unless one was given, its title."""
    fmt = tried.format if tried.page is not None else wanted.format
    title = wanted.title or (tried.page.title if tried.page is not None else None)
    return onboard.render_table(wanted, fmt=fmt, title=title, comment=comment)


def _gist(tried: Trial) -> str:
    if tried.page is None or not tried.found:
        return "no updates found"
    count = len(tried.events)
    return f"{tried.page.strategy} reading, {count} update" + ("" if count == 1 else "s")


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _print_trial(tried: Trial, wanted: Wanted, out: TextIO) -> None:
    """The reading, each update (UTC, local time, title, permalink, its notes),
    then the page's notes."""
    page = tried.page
    assert page is not None
    zone = tried.source.timezone
    out.write(f"{tried.source.url}\n")
    out.write(f"strategy: {page.strategy} (format {tried.format})\n")
    if page.title:
        out.write(f"page title: {_line(page.title)}\n")
    assumed = " (assumed)" if wanted.zone_assumed else ""
    out.write(f"timezone: {zone.key}{assumed}\n")
    count = len(tried.events)
    out.write(f"\n{count} update{'' if count == 1 else 's'} it would record, oldest first")
    out.write(f" (UTC, then local time in {zone.key}):\n")
    for event in tried.events:
        utc = event.published.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        local = event.published.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        out.write(f"  {utc}  {local}  {_line(event.title)}\n")
        out.write(f"      {event.link or tried.source.link + '  (no permalink: the page)'}\n")
        for note in event.notes:
            out.write(f"      note: {_line(note)}\n")
    notes = [*((onboard.ZONE_NOTE,) if wanted.zone_assumed else ()), *tried.notes]
    if notes:
        out.write("\nnotes:\n")
        for note in notes:
            out.write(f"  - {_line(note)}\n")


def _line(text: str) -> str:
    """Text from a page on one line of a terminal (no control characters)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
