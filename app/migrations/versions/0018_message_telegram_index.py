"""message telegram index: the gateway's messages found by Telegram id alone (deletions,
group replies and reactions name no chat)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 08:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_message_instance_telegram", "message", ["instance", "telegram_message_id"])


def downgrade() -> None:
    op.drop_index("ix_message_instance_telegram", table_name="message")
