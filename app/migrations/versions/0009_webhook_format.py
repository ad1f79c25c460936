"""webhook format: per-endpoint body shape (standard | whatsmate) and WhatsMate's token

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoint") as batch:
        # Existing endpoints keep the body they had.
        batch.add_column(
            sa.Column(
                "format",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="standard",
            )
        )
        batch.add_column(sa.Column("token", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoint") as batch:
        batch.drop_column("token")
        batch.drop_column("format")
