"""The rule every format shares for a page that lists too many entries: the newest are kept.

A page of 50,000 items cost seconds of CPU and hundreds of megabytes on
every poll, and 100,000 JSON-LD updates made one refresh render about a
thousand archive pages. A live blog or a feed that honestly lists more than
a few thousand updates per poll does not exist; one that does is broken or
hostile. So a poll keeps the source's `max_entries_per_poll` newest entries
by published time (ties: the later in the page's order wins, as entries come
oldest first), keeps them in the page's order, and says on the page how many
it left out. A reader that can tell its entries' times before building them
(`feed`) applies the same rule first, so it never builds the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")


def newest(
    items: Sequence[T], limit: int, when: Callable[[T], datetime]
) -> tuple[Sequence[T], tuple[str, ...]]:
    """The `limit` newest of `items` by `when`, in their order, and the note on the cut."""
    if len(items) <= limit:
        return items, ()
    ranked = sorted(range(len(items)), key=lambda index: when(items[index]))
    kept = sorted(ranked[len(items) - limit :])
    note = f"page holds {len(items)} entries; the newest {limit} kept"
    return [items[index] for index in kept], (note,)
