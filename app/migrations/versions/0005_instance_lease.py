"""instance lease, instance status_since

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "instance_lease",
        sa.Column("instance", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lock_file", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint("instance"),
    )

    op.add_column(
        "instance", sa.Column("status_since", app.models.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("instance", "status_since")
    op.drop_table("instance_lease")
