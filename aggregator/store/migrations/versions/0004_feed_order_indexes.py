"""Indexes in feed order, so rendering a feed reads its window, not the whole table.

Feeds list entries newest first by (published, entry_id), the merged feed
over every source and each source's feed over its own. The single index on
`published` could not give that order for one source, so every source feed
scanned and sorted all of that source's entries: regenerating the feeds
after one new entry grew with the log. With (published, entry_id) and
(source, published, entry_id) each feed reads only its `max_entries` rows.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # IF (NOT) EXISTS: a database that an early build made with create_all,
    # stamped by `migrations.upgrade`, may have either set already.
    op.drop_index("ix_entries_published", table_name="entries", if_exists=True)
    op.create_index(
        "ix_entries_feed_order", "entries", ["published", "entry_id"], if_not_exists=True
    )
    op.create_index(
        "ix_entries_source_feed_order",
        "entries",
        ["source", "published", "entry_id"],
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_entries_source_feed_order", table_name="entries")
    op.drop_index("ix_entries_feed_order", table_name="entries")
    op.create_index("ix_entries_published", "entries", ["published"])
