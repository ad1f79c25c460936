"""queue expiry: indexes for the expiry check the send worker makes before every claim

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 15:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_message_unsent_age", "message", ["instance", "status", "created_at"])
    op.create_index("ix_message_unsent_expiry", "message", ["instance", "status", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_message_unsent_expiry", table_name="message")
    op.drop_index("ix_message_unsent_age", table_name="message")
