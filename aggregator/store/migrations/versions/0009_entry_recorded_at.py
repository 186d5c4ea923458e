"""Issue 16: when the log recorded each entry's latest version.

A poll damps revisions (`ingest.plan`): an entry already revised once is
revised again only once `[[sources]] revise_every` has passed since its
latest version was recorded. That time must come from the log, so a replay
decides the same, and the projection keeps it beside the entry.

`position` is already the position of the entry's latest version (a
`StoryLinked` leaves it alone), so existing rows take the `recorded_at` of
the event at that position: exactly what folding the log again would give,
in one statement, without a refold.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("recorded_at", sa.String(length=32), nullable=True))
    op.get_bind().execute(
        sa.text(
            "UPDATE entries SET recorded_at = "
            "(SELECT recorded_at FROM events WHERE events.position = entries.position)"
        )
    )


def downgrade() -> None:
    op.drop_column("entries", "recorded_at")
