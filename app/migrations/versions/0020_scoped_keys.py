"""scoped API keys: scopes, instances, an IP allow-list, a daily quota and the last use of a
client; messages per client and day

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every column is NULL for the clients there are: every scope, every instance, any
    # address, the deployment's quota alone (what their keys could do before).
    with op.batch_alter_table("api_client") as batch:
        batch.add_column(
            sa.Column("scopes", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch.add_column(sa.Column("instances", sa.Text(), nullable=True))
        batch.add_column(sa.Column("ip_allow", sa.Text(), nullable=True))
        batch.add_column(sa.Column("daily_quota", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("last_used_at", app.models.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "client_daily_usage",
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("day", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "day"),
    )


def downgrade() -> None:
    op.drop_table("client_daily_usage")
    with op.batch_alter_table("api_client") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("daily_quota")
        batch.drop_column("ip_allow")
        batch.drop_column("instances")
        batch.drop_column("scopes")
