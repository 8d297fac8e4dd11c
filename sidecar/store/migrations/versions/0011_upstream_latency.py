"""remote versions: ``upstream_ms``, the upstream's part of a remote version's latency

A remote version's backend is a set of HTTP endpoints (another model server); its record
carries, beside predlog's own ``latency_ms``, the time the upstream call took. Local
versions leave it empty. The endpoints themselves travel in the version's manifest
(``model_versions.manifest``, its ``remote`` section), so the registry needs no column.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("upstream_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("upstream_ms")
