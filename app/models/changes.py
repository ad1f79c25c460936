"""What people do to messages after sending them, and the groups they write in: the tables of
inbound/groups.py and inbound/changes.py."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.columns import BigInt, UTCDateTime, ts


class InboundGroup(SQLModel, table=True):
    """A group an instance's account got messages in (or the admin allowed ahead of them).

    Its messages are forwarded when the sender is registered or the group is allowed: by
    `[[instances]] allowed_groups`, unless `allowed` (set by the admin API) says otherwise."""

    __tablename__ = "inbound_group"

    instance: int = Field(primary_key=True, foreign_key="instance.number")
    group_id: int = Field(
        primary_key=True, sa_type=BigInt, sa_column_kwargs={"autoincrement": False}
    )
    title: str | None = Field(default=None, max_length=255)
    is_channel: bool = False
    # The admin API's word: True allowed, False not allowed, None: as the configuration says.
    allowed: bool | None = None
    last_message_at: datetime | None = ts(nullable=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class InboundReaction(SQLModel, table=True):
    """The reactions a person has on a message, as the gateway last reported them."""

    __tablename__ = "inbound_reaction"
    # Retention finds the old ones by their date.
    __table_args__ = (sa.Index("ix_inbound_reaction_at", "reacted_at"),)

    instance: int = Field(primary_key=True, foreign_key="instance.number")
    channel_id: int = Field(
        primary_key=True, sa_type=BigInt, sa_column_kwargs={"autoincrement": False}
    )
    telegram_message_id: int = Field(
        primary_key=True, sa_type=BigInt, sa_column_kwargs={"autoincrement": False}
    )
    user_id: int = Field(
        primary_key=True, sa_type=BigInt, sa_column_kwargs={"autoincrement": False}
    )
    emojis: str = Field(sa_type=sa.Text)  # JSON list
    reacted_at: datetime = Field(sa_type=UTCDateTime)


class MessageDeletion(SQLModel, table=True):
    """A deletion Telegram announced of a message the gateway knows (a person's forwarded
    message, or one the gateway sent): kept so that a replayed announcement is not reported
    twice."""

    __tablename__ = "message_deletion"
    # Retention finds the old ones by their date.
    __table_args__ = (sa.Index("ix_message_deletion_at", "deleted_at"),)

    instance: int = Field(primary_key=True, foreign_key="instance.number")
    channel_id: int = Field(
        primary_key=True, sa_type=BigInt, sa_column_kwargs={"autoincrement": False}
    )
    telegram_message_id: int = Field(
        primary_key=True, sa_type=BigInt, sa_column_kwargs={"autoincrement": False}
    )
    direction: str = Field(max_length=8)  # inbound | outbound
    message_id: str = Field(max_length=36)  # the inbound_message or message row
    deleted_at: datetime = Field(sa_type=UTCDateTime)
