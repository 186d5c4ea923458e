"""Issue 4: the earliest next poll a server asked for, projected per source.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("source_status", sa.Column("not_before", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("source_status", "not_before")
