"""Issue 14: the kind of a source's last failure, projected on its own.

`last_error` is "<kind>: <reason>", for a person; `aggregator sources`,
`/healthz` and `/metrics` now show the kind (`timeout`, `no-updates`, ...)
by itself, and a check should not have to parse a message. The fold has
always written `last_error` as the kind, ": ", then the reason, and a kind
never holds ": ", so existing rows whose last poll failed take their kind
from it here, exactly as folding the log again would set it; every other
row is rightly NULL. No refold is needed.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("source_status", sa.Column("last_error_kind", sa.Text(), nullable=True))
    connection = op.get_bind()
    failed = connection.execute(
        sa.text(
            "SELECT name, last_error FROM source_status "
            "WHERE last_outcome = 'failed' AND last_error IS NOT NULL"
        )
    ).all()
    rows = [
        {"name": name, "kind": error.split(": ", 1)[0]} for name, error in failed if ": " in error
    ]
    if rows:
        connection.execute(
            sa.text("UPDATE source_status SET last_error_kind = :kind WHERE name = :name"), rows
        )


def downgrade() -> None:
    op.drop_column("source_status", "last_error_kind")
