"""access control: groups, their members' roles, API keys (hashed), models' groups, the audit

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
At = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_groups",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", At, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("max_versions", sa.Integer(), nullable=True),
        sa.Column("max_bundle_bytes", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_access_groups"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_name", sa.String(128), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("added_at", At, nullable=False),
        sa.Column("added_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("group_name", "user_name", name="pk_group_members"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("group_name", sa.String(128), nullable=False),
        sa.Column("created_at", At, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("revoked_at", At, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_user_name", "api_keys", ["user_name"])
    op.create_table(
        "model_groups",
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("group_name", sa.String(128), nullable=False),
        sa.Column("assigned_at", At, nullable=False),
        sa.PrimaryKeyConstraint("model", name="pk_model_groups"),
    )
    op.create_index("ix_model_groups_group_name", "model_groups", ["group_name"])
    op.create_table(
        "admin_audit",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", At, nullable=False),
        sa.Column("user_name", sa.String(255), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("client", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("group_name", sa.String(128), nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_audit"),
    )
    op.create_index("ix_admin_audit_at", "admin_audit", ["at"])
    op.create_index("ix_admin_audit_model_id", "admin_audit", ["model", "id"])
    # the models registered before groups existed belong to the default group
    op.execute(
        "INSERT INTO access_groups (name, created_at, created_by) "
        "VALUES ('default', CURRENT_TIMESTAMP, 'migration')"
    )
    op.execute(
        "INSERT INTO model_groups (model, group_name, assigned_at) "
        "SELECT DISTINCT model, 'default', CURRENT_TIMESTAMP FROM model_versions"
    )


def downgrade() -> None:
    op.drop_index("ix_admin_audit_model_id", table_name="admin_audit")
    op.drop_index("ix_admin_audit_at", table_name="admin_audit")
    op.drop_table("admin_audit")
    op.drop_index("ix_model_groups_group_name", table_name="model_groups")
    op.drop_table("model_groups")
    op.drop_index("ix_api_keys_user_name", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("group_members")
    op.drop_table("access_groups")
