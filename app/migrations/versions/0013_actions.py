"""message actions: edits, deletions and reactions queued as message rows that name their
target, and what they did to the target (edited_at, deleted_at, reaction)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("target_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("target_telegram_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("edited_at", app.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("deleted_at", app.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("reaction", sa.String(length=64), nullable=True))
        batch.create_index("ix_message_target", ["target_id", "created_at"], unique=False)
    # The sandbox's record of what the account did to its messages.
    with op.batch_alter_table("sandbox_message") as batch:
        batch.add_column(
            sa.Column("edited_at", app.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("deleted_at", app.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("reaction", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sandbox_message") as batch:
        batch.drop_column("reaction")
        batch.drop_column("deleted_at")
        batch.drop_column("edited_at")
    with op.batch_alter_table("message") as batch:
        batch.drop_index("ix_message_target")
        batch.drop_column("reaction")
        batch.drop_column("deleted_at")
        batch.drop_column("edited_at")
        batch.drop_column("target_telegram_id")
        batch.drop_column("target_id")
