"""groups whose models need a read key for /predict: ``access_groups.predict_needs_key``

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_groups") as batch:
        batch.add_column(
            sa.Column(
                "predict_needs_key", sa.Boolean(), nullable=False, server_default=sa.text("false")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("access_groups") as batch:
        batch.drop_column("predict_needs_key")
