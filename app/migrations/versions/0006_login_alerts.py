"""login alerts: logins to an account from other devices that were announced

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 11:02:40
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("auth_hash", sa.BigInteger(), nullable=True),
        sa.Column("notice_message_id", sa.BigInteger(), nullable=True),
        sa.Column("login_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.ForeignKeyConstraint(["instance"], ["instance.number"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance", "auth_hash", name="uq_login_alert_hash"),
        sa.UniqueConstraint("instance", "notice_message_id", name="uq_login_alert_notice"),
    )
    with op.batch_alter_table("login_alert", schema=None) as batch_op:
        batch_op.create_index("ix_login_alert_instance_at", ["instance", "login_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_alert", schema=None) as batch_op:
        batch_op.drop_index("ix_login_alert_instance_at")
    op.drop_table("login_alert")
