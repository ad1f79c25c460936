"""console signouts: signed-out admin console sessions, refused until their cookie expires

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_signout",
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("expires_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id"),
    )
    with op.batch_alter_table("console_signout", schema=None) as batch_op:
        batch_op.create_index("ix_console_signout_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_signout", schema=None) as batch_op:
        batch_op.drop_index("ix_console_signout_expires_at")
    op.drop_table("console_signout")
