"""sandbox_message: what the sandbox received of an audio send (its duration, and whether
Telegram would show it as a voice bubble)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sandbox_message") as batch:
        batch.add_column(sa.Column("duration_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("voice", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sandbox_message") as batch:
        batch.drop_column("voice")
        batch.drop_column("duration_s")
