"""Folding the event log into read models.

`fold` is the single definition of what each event means for the entries and
source-status read models; every adapter (in memory, SQL) applies it through
the narrow `FoldTarget` view, so the state after position P is the same
whichever adapter computed it. That equality is what makes `feed --as-of`
(a fold in memory) agree byte for byte with the feed the service wrote at the
time (a fold into SQL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aggregator.core.states import StoredEvent
from aggregator.store.base import EventLog, ReadModel

CATCH_UP_BATCH = 2000


def catch_up(
    log: EventLog,
    model: ReadModel,
    upto: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Fold everything past the model's checkpoint (up to `upto`); return events folded.

    `progress` is told the checkpoint after each batch (for a terminal's progress line).
    """
    folded = 0
    while True:
        start = model.checkpoint()
        if upto is not None and start >= upto:
            return folded
        batch = list(log.read(after=start, upto=upto, limit=CATCH_UP_BATCH))
        if not batch:
            return folded
        reached = model.apply(batch)
        folded += reached - start
        if progress is not None:
            progress(reached)


def fold_appended(log: EventLog, model: ReadModel, written: Sequence[StoredEvent]) -> None:
    """Bring `model` up to date after this process appended `written`.

    The records just written are folded as they are, in one transaction,
    without reading them back: most polls append one or two events, and
    reading the log back doubled their store work. When the model did not
    stand right before them (another process appended in between), `apply`
    folds none of them, and the model catches up from the log instead.
    """
    if not written or model.apply(written) < written[-1].position:
        catch_up(log, model)
