"""What a backfill (POST /api/v1/conversations/{number}/backfill) learned of a private chat
that the gateway had not stored: messages the account's owner sent from the phone, and the
person's messages from before the gateway ran. Kept apart from `message` and
`inbound_message`, so the send queue and the inbound pipeline never see them (history, not
news: no events, no webhooks); the history read (app/history/reads.py) merges the three."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.columns import BigInt, UTCDateTime


class HistoryMessage(SQLModel, table=True):
    __tablename__ = "history_message"
    __table_args__ = (
        # A private chat's ids come from the account's own message box: one per account.
        sa.UniqueConstraint("instance", "telegram_message_id", name="uq_history_instance_msg"),
        sa.Index("ix_history_person", "instance", "user_id", "sent_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    instance: int = Field(foreign_key="instance.number")
    # The person of the chat (recipient.user_id).
    user_id: int = Field(sa_type=BigInt)
    telegram_message_id: int = Field(sa_type=BigInt)
    # out: the account's own (sent from the phone, or by the gateway before its records);
    # in: the person's.
    direction: str = Field(max_length=3)
    kind: str = Field(max_length=16)  # the port's HistoryKind
    text: str | None = Field(default=None, sa_type=sa.Text)
    filename: str | None = Field(default=None, max_length=255)
    mime_type: str | None = Field(default=None, max_length=127)
    size: int | None = Field(default=None, sa_type=BigInt)
    reply_to_telegram_id: int | None = Field(default=None, sa_type=BigInt)
    # Telegram's date of the message; when the backfill stored it.
    sent_at: datetime = Field(sa_type=UTCDateTime)
    backfilled_at: datetime = Field(sa_type=UTCDateTime)
