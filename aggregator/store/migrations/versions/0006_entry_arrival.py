"""Each entry's arrival number and the position that last changed it.

`arrival` numbers entries in the order they first appeared in the log (1 for
the first entry ever added): the merged feed's archive pages are stretches
of it, so the page an entry is filed on never moves, whatever revisions or
late publication times follow. `changed` is the last position that changed
the entry (a new version, or a story link), so the publisher can ask which
archive pages a stretch of the log touched without reading the log.

Existing rows are numbered here from the log itself, exactly as folding the
log from the start would number them: in the order of each entry's first
entry event, up to the projection's checkpoint. Only the event keys are read
(`entry:<source>:<key>:v<version>`, `story:<source>:<key>`), not the
payloads, so this is much cheaper than a replay. The unique index on
`arrival` is created after the numbering.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ENTRY_KEY = re.compile(r"entry:([^:]*):(.*):v\d+", re.DOTALL)
_STORY_KEY = re.compile(r"story:([^:]*):(.*)", re.DOTALL)
_BATCH = 5000


def upgrade() -> None:
    op.add_column("entries", sa.Column("arrival", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("entries", sa.Column("changed", sa.Integer(), nullable=False, server_default="0"))
    _number_existing_entries(op.get_bind())
    op.create_index("ix_entries_arrival", "entries", ["arrival"], unique=True)
    op.create_index("ix_entries_changed", "entries", ["changed"])


def downgrade() -> None:
    op.drop_index("ix_entries_changed", table_name="entries")
    op.drop_index("ix_entries_arrival", table_name="entries")
    op.drop_column("entries", "changed")
    op.drop_column("entries", "arrival")


def _number_existing_entries(connection: sa.Connection) -> None:
    """Give every stored entry the numbers a fold from the start would give it."""
    checkpoint = connection.execute(
        sa.text("SELECT position FROM projection_checkpoints WHERE name = 'entries'")
    ).scalar()
    stored = {
        (source, key): position
        for source, key, position in connection.execute(
            sa.text("SELECT source, key, position FROM entries")
        )
    }
    if not stored:
        return
    arrival: dict[tuple[str, str], int] = {}
    changed = dict(stored)
    events = connection.execute(
        sa.text(
            "SELECT position, type, event_key FROM events WHERE position <= :upto "
            "AND type IN ('EntryAdded', 'EntryRevised', 'StoryLinked') ORDER BY position"
        ),
        {"upto": checkpoint or 0},
    )
    for position, kind, event_key in events:
        match = (_STORY_KEY if kind == "StoryLinked" else _ENTRY_KEY).fullmatch(event_key)
        if match is None:
            continue
        entry = (match.group(1), match.group(2))
        if entry not in stored:
            continue
        if kind == "StoryLinked":
            # Folding a link to an entry not yet seen changes nothing.
            if entry in arrival:
                changed[entry] = max(changed[entry], position)
        elif entry not in arrival:
            arrival[entry] = len(arrival) + 1
    # An entry whose first event was not found (which a log written by this
    # program cannot hold) still gets a number of its own, after the others.
    for entry in sorted(stored.keys() - arrival.keys(), key=lambda e: (stored[e], e)):
        arrival[entry] = len(arrival) + 1
    rows = [
        {"source": source, "key": key, "arrival": number, "changed": changed[(source, key)]}
        for (source, key), number in arrival.items()
    ]
    update = sa.text(
        "UPDATE entries SET arrival = :arrival, changed = :changed "
        "WHERE source = :source AND key = :key"
    )
    for start in range(0, len(rows), _BATCH):
        connection.execute(update, rows[start : start + _BATCH])
