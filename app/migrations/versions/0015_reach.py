"""reachability: what is known about messaging each recipient, and the sandbox's people who
take messages only from Premium accounts, only paid ones, or not at all

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recipient") as batch:
        batch.add_column(
            sa.Column("reachability", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "reachability_detail", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True
            )
        )
        batch.add_column(
            sa.Column(
                "reachability_checked_at", app.models.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.create_table(
        "sandbox_person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("requires", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("stars", sa.BigInteger(), nullable=True),
        sa.Column("deactivated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance", "number", name="uq_sandbox_person_number"),
    )


def downgrade() -> None:
    op.drop_table("sandbox_person")
    with op.batch_alter_table("recipient") as batch:
        batch.drop_column("reachability_checked_at")
        batch.drop_column("reachability_detail")
        batch.drop_column("reachability")
