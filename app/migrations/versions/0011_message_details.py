"""message details: what the new kinds carry (location, contact, audio/video attributes), and
the silent and link-preview flags

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 07:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("details", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("silent", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("link_preview", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("link_preview")
        batch.drop_column("silent")
        batch.drop_column("details")
