"""Each entry's story: the cross-outlet cluster a `StoryLinked` event put it in.

A nullable column (most entries belong to no story) with an index, because a
story's own feed lists its members by it. Existing databases hold no
`StoryLinked` events yet, so every existing row is rightly NULL and no
refold is needed.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("story", sa.String(length=64), nullable=True))
    op.create_index("ix_entries_story", "entries", ["story"])


def downgrade() -> None:
    op.drop_index("ix_entries_story", table_name="entries")
    op.drop_column("entries", "story")
