"""The sandbox's tables: the simulated Telegram's own state, never the gateway's.

They live in the gateway's database (so a sandbox survives a restart and its state can be
inspected), but only the sandbox reads or writes them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models import AutoBigInt, BigInt, UTCDateTime, ts


class SandboxAccount(SQLModel, table=True):
    __tablename__ = "sandbox_account"

    instance: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    phone: str = Field(max_length=20)
    user_id: int = Field(sa_type=BigInt)
    logged_in: bool = True
    first_name: str = Field(default="tgw sandbox", max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    about: str | None = Field(default=None, max_length=255)
    last_message_id: int = 0
    # The gateway's position in the update stream, like Telethon's stored update state.
    consumed_update_id: int = Field(default=0, sa_type=BigInt)
    # What the simulated @SpamBot answers (POST /admin/sandbox/{n}/spambot); None: "no limits".
    spambot_reply: str | None = Field(default=None, sa_type=sa.Text)


class SandboxUser(SQLModel, table=True):
    __tablename__ = "sandbox_user"
    __table_args__ = (
        sa.UniqueConstraint("instance", "number", name="uq_sandbox_user_number"),
        sa.UniqueConstraint("instance", "user_id", name="uq_sandbox_user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instance: int
    user_id: int = Field(sa_type=BigInt)
    access_hash: int = Field(sa_type=BigInt)
    number: str = Field(max_length=20)
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    username: str | None = Field(default=None, max_length=64)
    phone_visible: bool = True
    is_bot: bool = False
    max_read_id: int = 0
    # The account's read mark in this person's chat (read_inbox: mark_read_on_reply).
    read_inbox_max_id: int = Field(
        default=0, sa_type=BigInt, sa_column_kwargs={"server_default": "0"}
    )


class SandboxMessage(SQLModel, table=True):
    __tablename__ = "sandbox_message"
    __table_args__ = (
        sa.UniqueConstraint("instance", "message_id", name="uq_sandbox_message_id"),
        sa.UniqueConstraint("instance", "random_id", name="uq_sandbox_message_random"),
        sa.Index("ix_sandbox_message_number", "instance", "direction", "number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instance: int
    message_id: int = Field(sa_type=BigInt)
    direction: str = Field(max_length=3)  # in | out
    user_id: int | None = Field(default=None, sa_type=BigInt)
    chat_id: int | None = Field(default=None, sa_type=BigInt)
    number: str | None = Field(default=None, max_length=20)
    kind: str = Field(max_length=16)
    text: str | None = Field(default=None, sa_type=sa.Text)
    caption: str | None = Field(default=None, sa_type=sa.Text)
    filename: str | None = Field(default=None, max_length=255)
    mime_type: str | None = Field(default=None, max_length=127)
    size: int | None = None
    sha256: str | None = Field(default=None, max_length=64)
    data: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    random_id: int | None = Field(default=None, sa_type=BigInt)
    reply_to: int | None = Field(default=None, sa_type=BigInt)
    contact_number: str | None = Field(default=None, max_length=20)
    contact_user_id: int | None = Field(default=None, sa_type=BigInt)
    # An outgoing message's other fields, as JSON: location, contact, video, silent,
    # link_preview, the chat action shown while it was sent, the chat's read mark then.
    details: str | None = Field(default=None, sa_type=sa.Text)
    sent_at: datetime = Field(sa_type=UTCDateTime)
    # An audio send: its duration, and whether Telegram would show a voice bubble (OGG/Opus
    # sent as a voice note, with its waveform).
    duration_s: int | None = None
    voice: bool | None = None
    # What was done to the message afterwards: the account's edit, deletion and reaction on
    # its own message (sandbox/actions.py; text/caption hold the new words), or the person's
    # edit and deletion of theirs (sandbox/changes.py).
    edited_at: datetime | None = ts(nullable=True)
    deleted_at: datetime | None = ts(nullable=True)
    reaction: str | None = Field(default=None, max_length=64)
    # A person's group message that names the account (POST .../inbound "mentions_account").
    mentions_account: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class SandboxUpdate(SQLModel, table=True):
    """What the simulated Telegram pushes to the gateway, in order (like pts)."""

    __tablename__ = "sandbox_update"
    __table_args__ = (sa.Index("ix_sandbox_update_instance", "instance", "id"),)

    id: int | None = Field(default=None, sa_type=AutoBigInt, primary_key=True)
    instance: int
    type: str = Field(max_length=16)  # message | read | login | edit | delete | reaction
    message_id: int | None = Field(default=None, sa_type=BigInt)
    user_id: int | None = Field(default=None, sa_type=BigInt)
    max_id: int | None = Field(default=None, sa_type=BigInt)
    # reaction: the emoji the person set (null: they took their reaction back).
    emoji: str | None = Field(default=None, max_length=64)


class SandboxGroup(SQLModel, table=True):
    __tablename__ = "sandbox_group"
    __table_args__ = (sa.UniqueConstraint("instance", "chat_id", name="uq_sandbox_group_chat"),)

    id: int | None = Field(default=None, primary_key=True)
    instance: int
    chat_id: int = Field(sa_type=BigInt)
    group_name: str = Field(max_length=255)
    group_admin: str = Field(max_length=20)
    members: str = Field(sa_type=sa.Text)  # JSON list of numbers


class SandboxFault(SQLModel, table=True):
    __tablename__ = "sandbox_fault"

    id: int | None = Field(default=None, primary_key=True)
    instance: int
    flood_wait_s: int | None = None
    error: str | None = Field(default=None, max_length=32)
    number: str | None = Field(default=None, max_length=20)
    times_left: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)


class SandboxAuthorization(SQLModel, table=True):
    """A logged-in session of the sandbox account: the gateway's own (`current`) and the ones
    POST /admin/sandbox/{n}/new-login adds. An ended one keeps its row (`ended_at`)."""

    __tablename__ = "sandbox_authorization"
    __table_args__ = (sa.UniqueConstraint("instance", "hash", name="uq_sandbox_auth_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    instance: int
    hash: int = Field(sa_type=BigInt)
    current: bool = False
    device_model: str = Field(max_length=255)
    platform: str = Field(default="", max_length=64)
    system_version: str = Field(default="", max_length=64)
    app_name: str = Field(default="", max_length=255)
    app_version: str = Field(default="", max_length=64)
    official_app: bool = False
    ip: str = Field(default="", max_length=64)
    location: str = Field(default="", max_length=255)
    created_at: datetime = Field(sa_type=UTCDateTime)
    active_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = ts(nullable=True)
    # The sandbox_update that announced it (None for the gateway's own).
    update_id: int | None = Field(default=None, sa_type=BigInt)


class SandboxPerson(SQLModel, table=True):
    """How a sandbox person takes messages (POST /admin/sandbox/{n}/people): only from Premium
    accounts, only paid ones (Stars), or not at all (their account was deleted). A number
    without a row takes every message."""

    __tablename__ = "sandbox_person"
    __table_args__ = (sa.UniqueConstraint("instance", "number", name="uq_sandbox_person_number"),)

    id: int | None = Field(default=None, primary_key=True)
    instance: int
    number: str = Field(max_length=20)
    # "premium" | "paid_messages" | None (anyone may write)
    requires: str | None = Field(default=None, max_length=16)
    # What a paid message costs (requires "paid_messages"), in Telegram Stars.
    stars: int | None = Field(default=None, sa_type=BigInt)
    deactivated: bool = False
