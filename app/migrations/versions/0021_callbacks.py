"""per-message callbacks: message.callback_url, callback endpoints' client, client secrets

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.models

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(
            sa.Column("callback_url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True)
        )
    with op.batch_alter_table("webhook_endpoint") as batch:
        batch.add_column(
            sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True)
        )
    op.create_table(
        "client_callback_secret",
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary(), nullable=True),
        sa.Column("previous_secret_until", app.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id"),
    )
    cursor = op.create_table(
        "callback_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # No message had a callback before this revision: the fan-out starts after the events
    # already in the log instead of reading them all once.
    last = op.get_bind().execute(sa.text("SELECT max(seq) FROM event")).scalar()
    op.bulk_insert(cursor, [{"id": 1, "last_seq": int(last or 0)}])


def downgrade() -> None:
    op.drop_table("callback_cursor")
    op.drop_table("client_callback_secret")
    with op.batch_alter_table("webhook_endpoint") as batch:
        batch.drop_column("client_id")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("callback_url")
