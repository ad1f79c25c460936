"""sandbox kinds: what the simulated Telegram records of the native kinds and options (the
details of a sent message) and the account's read mark in each person's chat

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sandbox_message") as batch:
        batch.add_column(sa.Column("details", sa.Text(), nullable=True))
    with op.batch_alter_table("sandbox_user") as batch:
        batch.add_column(
            sa.Column("read_inbox_max_id", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_user") as batch:
        batch.drop_column("read_inbox_max_id")
    with op.batch_alter_table("sandbox_message") as batch:
        batch.drop_column("details")
