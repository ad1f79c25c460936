"""queue control: an instance's queue paused by an admin; a message's own expiry

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.add_column(
            sa.Column("queue_paused_at", app.models.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("message") as batch:
        batch.add_column(
            sa.Column("expires_at", app.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("instance") as batch:
        batch.drop_column("queue_paused_at")
