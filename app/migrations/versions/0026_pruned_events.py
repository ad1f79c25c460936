"""pruned events: how far the retention job pruned the event log (app/retention/watermark.py),
for the readers that ask for events older than what is left; and the indexes by age of the
tables retention now keeps small (message deletions, reactions, login alerts, clients' usage)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 14:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pruned_events",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("through_seq", sa.BigInteger(), nullable=False),
        sa.Column("pruned_at", app.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_deletion_at", "message_deletion", ["deleted_at"])
    op.create_index("ix_inbound_reaction_at", "inbound_reaction", ["reacted_at"])
    op.create_index("ix_login_alert_at", "login_alert", ["login_at"])
    op.create_index("ix_client_daily_usage_day", "client_daily_usage", ["day"])


def downgrade() -> None:
    op.drop_index("ix_client_daily_usage_day", table_name="client_daily_usage")
    op.drop_index("ix_login_alert_at", table_name="login_alert")
    op.drop_index("ix_inbound_reaction_at", table_name="inbound_reaction")
    op.drop_index("ix_message_deletion_at", table_name="message_deletion")
    op.drop_table("pruned_events")
