"""The projection checkpoint row always exists, so folding can lock it.

Folding takes `SELECT ... FOR UPDATE` on the checkpoint row to serialise
collectors catching the projections up at once. On a new PostgreSQL log the
row did not exist yet, the lock took nothing, and two collectors folded the
same events together (a duplicate-key failure on `entries`). The row is now
created with the schema, and `reset` zeroes it instead of deleting it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO projection_checkpoints (name, position) SELECT 'entries', 0 "
        "WHERE NOT EXISTS (SELECT 1 FROM projection_checkpoints WHERE name = 'entries')"
    )


def downgrade() -> None:
    pass
