"""Issue 16: no two entries share an Atom id, and who holds an id is an index lookup.

A poll now asks which sources' entries hold the ids its page gives
(`ReadModel.owners`, one IN query on `entry_id`), and the fold never gives
an id that an earlier entry holds to a later one (`core.fold`). Read models
folded before may hold one id twice (a feed that copied another's guids, or
two outlets whose guids were both `123`). Those are renamed here exactly as
folding the log again would name them: in arrival order (the order the fold
meets them), the first holder keeps the id and each later one takes the id
with '/', its source (percent-encoded) and its arrival number appended, again
while an earlier entry holds that. Renaming can in theory land on an id a
later entry holds, so it goes round until no id is held twice, as the fold
would have renamed that later entry. Then the unique index is created.

The rule is written out here rather than imported: a migration is what the
schema was at its revision, whatever the fold becomes.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from urllib.parse import quote

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_SHARED = sa.text(
    "SELECT source, key, entry_id, arrival FROM entries WHERE entry_id IN "
    "(SELECT entry_id FROM entries GROUP BY entry_id HAVING COUNT(*) > 1) "
    "ORDER BY arrival"
)
_HELD_EARLIER = sa.text("SELECT 1 FROM entries WHERE entry_id = :id AND arrival < :arrival")
_RENAME = sa.text("UPDATE entries SET entry_id = :id WHERE source = :source AND key = :key")


def upgrade() -> None:
    connection = op.get_bind()
    while rows := connection.execute(_SHARED).all():
        for source, key, entry_id, arrival in rows:
            chosen = entry_id
            while connection.execute(_HELD_EARLIER, {"id": chosen, "arrival": arrival}).first():
                chosen = f"{chosen}/{quote(source, safe='')}/{arrival}"
            if chosen != entry_id:
                connection.execute(_RENAME, {"id": chosen, "source": source, "key": key})
    # IF NOT EXISTS: a database stamped at an earlier revision by hand (or by a
    # test) may have it from `create_all` already.
    op.create_index("ix_entries_entry_id", "entries", ["entry_id"], unique=True, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_entries_entry_id", table_name="entries")
