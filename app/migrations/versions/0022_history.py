"""conversation history: messages a backfill learned of (history_message)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "history_message",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("mime_type", sqlmodel.sql.sqltypes.AutoString(length=127), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("reply_to_telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("backfilled_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance"], ["instance.number"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance", "telegram_message_id", name="uq_history_instance_msg"),
    )
    op.create_index(
        "ix_history_person", "history_message", ["instance", "user_id", "sent_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_history_person", table_name="history_message")
    op.drop_table("history_message")
