"""sandbox sessions: the simulated account's logged-in devices

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:02:41
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_authorization",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("hash", sa.BigInteger(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("device_model", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("system_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("app_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("app_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("official_app", sa.Boolean(), nullable=False),
        sa.Column("ip", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("active_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", app.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("update_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance", "hash", name="uq_sandbox_auth_hash"),
    )


def downgrade() -> None:
    op.drop_table("sandbox_authorization")
