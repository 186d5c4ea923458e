"""`aggregator collect`, `import` and `replay`: the one-shot commands that add
to the log or fold it again, then run the followers once
(`follow.runner.file_runner`) and report how many documents they rendered
and wrote and where the merged feed is."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from aggregator.cli import output
from aggregator.cli.context import EXIT_OK, EXIT_SOURCE_FAILED, Context
from aggregator.cli.database import configured_store
from aggregator.cli.options import position
from aggregator.config import Settings
from aggregator.core.errors import AggregatorError
from aggregator.core.events import StoryLinked
from aggregator.engine.polls import collect_once
from aggregator.follow.runner import file_runner
from aggregator.ingest.poll import PollSummary
from aggregator.publish import catalog
from aggregator.publish.catalog import Address
from aggregator.publish.documents import Update
from aggregator.store.base import EventLog, ReadModel
from aggregator.store.transfer import read_records


def cmd_collect(ctx: Context) -> int:
    settings, args = ctx.settings, ctx.args
    chosen = [settings.source(args.source)] if args.source else list(settings.sources)
    store = configured_store(ctx)  # only now: an unknown --source fails before the database is made
    done: list[PollSummary] = []

    def progress(summary: PollSummary) -> None:
        done.append(summary)
        output.progress(
            f"polled {len(done)}/{len(chosen)}: {summary.source}", len(done) == len(chosen)
        )

    followers = _Followers(settings, store.log, store.read_model)
    summaries = asyncio.run(
        collect_once(settings.service, chosen, store.log, store.read_model, store.clock, progress)
    )
    before = store.log.head()
    update = followers.run()
    links = [r for r in store.log.read(after=before) if r.type == StoryLinked.type_name]
    width = max(len(s.source) for s in summaries)
    for s in summaries:
        print(f"{s.source:<{width}}  {_describe(s)}")
    if links:
        stories = {getattr(record.event(), "story", None) for record in links}
        print(f"stories: {len(links)} entries linked into {len(stories)} cross-outlet stories")
    total = min(_entry_total(store.read_model), settings.feed.max_entries)
    print(_documents(update))
    print(f"merged feed ({total} entries): {_merged_file(settings)}")
    return EXIT_SOURCE_FAILED if any(s.error for s in summaries) else EXIT_OK


def cmd_replay(ctx: Context) -> int:
    settings, args = ctx.settings, ctx.args
    store = configured_store(ctx)
    head = store.log.head()
    upto = head if args.until is None else min(position(store.log, args.until, "--until"), head)
    store.read_model.reset()

    def progress(reached: int) -> None:
        output.progress(f"replaying: position {reached} of {upto}")

    update = _Followers(settings, store.log, store.read_model, progress).run(upto)
    folded = store.read_model.checkpoint()  # folded from 0: the model was reset
    output.progress(f"replayed {folded} events", done=True)
    count = _entry_total(store.read_model)
    print(f"folded {folded} events (positions 1-{upto} of {head}); {count} entries")
    if upto < head:
        print(f"projections stop at position {upto}; the next collect or feed catches them up")
    print(_documents(update))
    print(f"merged feed: {_merged_file(settings)}")
    return EXIT_OK


def cmd_import(ctx: Context) -> int:
    settings, args = ctx.settings, ctx.args
    store = configured_store(ctx)
    where = "stdin" if args.file == "-" else args.file
    try:
        handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise AggregatorError(f"cannot read {where}: {exc.strerror or exc}") from None
    with handle:
        count = store.log.restore(read_records(handle, where))

    def progress(at: int) -> None:
        output.progress(f"folding: {at}/{count}")

    update = _Followers(settings, store.log, store.read_model, progress).run()
    output.progress(f"folded {count} events", done=True)
    print(f"imported {count} events; {_entry_total(store.read_model)} entries")
    print(_documents(update))
    print(f"merged feed: {_merged_file(settings)}")
    return EXIT_OK


class _Followers:
    """A command's followers (fold, stories, files), made before it appends
    anything: the story linker links what is appended after it was made."""

    def __init__(
        self,
        settings: Settings,
        log: EventLog,
        model: ReadModel,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self._published: list[Update] = []
        self._runner = file_runner(settings, log, model, progress, published=self._published.append)

    def run(self, upto: int | None = None) -> Update:
        """Run them once; what publishing did."""
        self._runner.run(upto)
        return self._published[-1]


def _documents(update: Update) -> str:
    """What publishing did: documents rendered, and files written (those whose
    bytes changed); none of either when no entry changed."""
    return f"documents: {len(update.rendered)} rendered, {len(update.changed)} written"


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


__all__ = ["cmd_collect", "cmd_import", "cmd_replay"]
