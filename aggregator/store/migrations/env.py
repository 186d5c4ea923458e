"""Alembic environment: always run in-process on a connection `migrate` provides.

There is no alembic.ini and no URL here: `aggregator.store.migrations.upgrade`
opens the transaction (serialised against other processes), and this file
only hands its connection to Alembic.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import aggregator.store.sql  # noqa: F401  (registers the tables on the metadata)

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=SQLModel.metadata,
)
with context.begin_transaction():
    context.run_migrations()
