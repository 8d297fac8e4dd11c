"""Alembic environment: migrates the store that the caller's connection points at."""

from __future__ import annotations

from alembic import context

from sidecar.store.partitions import compare_options
from sidecar.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    **compare_options(connection.dialect.name),
)
with context.begin_transaction():
    context.run_migrations()
