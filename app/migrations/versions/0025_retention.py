"""retention: indexes the retention job's deletes need (app/retention/): which messages still
use a media blob, and the idempotency keys by age

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 11:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_message_media", "message", ["media_id"])
    op.create_index("ix_inbound_media", "inbound_message", ["media_id"])
    op.create_index("ix_idempotency_created", "idempotency_record", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_created", table_name="idempotency_record")
    op.drop_index("ix_inbound_media", table_name="inbound_message")
    op.drop_index("ix_message_media", table_name="message")
