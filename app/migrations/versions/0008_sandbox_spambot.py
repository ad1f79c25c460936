"""sandbox spambot: what the simulated @SpamBot answers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sandbox_account") as batch:
        batch.add_column(sa.Column("spambot_reply", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sandbox_account") as batch:
        batch.drop_column("spambot_reply")
