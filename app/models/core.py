"""The gateway's core tables: clients, instances, recipients, the send queue, the event log,
inbound messages, sessions, leases and profiles."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.columns import AutoBigInt, BigInt, UTCDateTime, ts
from app.vocabulary import InstanceStatus, MessageStatus


class ApiClient(SQLModel, table=True):
    __tablename__ = "api_client"

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=254, unique=True)
    secret_hash: str = Field(max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = ts(nullable=True)
    revoked_at: datetime | None = ts(nullable=True)
    rotated_at: datetime | None = ts(nullable=True)
    # What the key may do (app/client_limits.py): comma-separated scopes, instance numbers and
    # CIDR networks; NULL: every scope, every instance, any address (a client created before
    # keys had limits keeps full power).
    scopes: str | None = Field(default=None, max_length=255)
    instances: str | None = Field(default=None, sa_type=sa.Text)
    ip_allow: str | None = Field(default=None, sa_type=sa.Text)
    # Its own messages-a-day limit, besides the deployment's; NULL: only the deployment's.
    daily_quota: int | None = None
    # Written at most once a minute per client and process (ClientCache), not per request.
    last_used_at: datetime | None = ts(nullable=True)


class ConsoleSignout(SQLModel, table=True):
    """An admin console session that was signed out: its cookie is refused until it would have
    expired (`expires_at`, indexed for pruning), by every process sharing the database."""

    __tablename__ = "console_signout"

    session_id: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class Instance(SQLModel, table=True):
    __tablename__ = "instance"

    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    backend: str = Field(max_length=16)
    status: str = Field(max_length=24, default=InstanceStatus.LOGGED_OUT)  # InstanceStatus
    status_detail: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=32)
    user_id: int | None = Field(default=None, sa_type=BigInt)
    paused_until: datetime | None = ts(nullable=True)
    # When the instance entered its current status (a detail change does not move it).
    status_since: datetime | None = ts(nullable=True)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    # Set by POST /admin/instances/{n}/queue/pause: the send worker claims nothing until resumed.
    queue_paused_at: datetime | None = ts(nullable=True)


class Recipient(SQLModel, table=True):
    """A person who wrote to an instance. Only `registered` ones can be messaged."""

    __tablename__ = "recipient"
    __table_args__ = (
        sa.UniqueConstraint("instance", "user_id", name="uq_recipient_instance_user"),
        sa.Index("ix_recipient_instance_number", "instance", "number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    instance: int = Field(foreign_key="instance.number")
    user_id: int = Field(sa_type=BigInt)
    access_hash: int | None = Field(default=None, sa_type=BigInt)
    number: str | None = Field(default=None, max_length=20)
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    username: str | None = Field(default=None, max_length=64)
    language: str = Field(default="en", max_length=8)
    # RecipientStatus: pending (greeted, phone unknown), registered, unregistered (stopped, or
    # never registered)
    status: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    registered_at: datetime | None = ts(nullable=True)
    unregistered_at: datetime | None = ts(nullable=True)
    last_hint_at: datetime | None = ts(nullable=True)
    # What is known about messaging them (outbound/reach.py): a port Reachability other than
    # "unknown" ("ok", "blocked", "deactivated", "premium_required", "paid_messages_required"),
    # learned from a send's outcome or from Telegram; None: nothing known. `_checked_at` says
    # when: Telegram's answers are asked again after a while, a registration since voids it.
    reachability: str | None = Field(default=None, max_length=24)
    reachability_detail: str | None = Field(default=None, max_length=255)
    reachability_checked_at: datetime | None = ts(nullable=True)


class MediaBlob(SQLModel, table=True):
    """Media bytes, stored in the database so an accepted message is whole on disk."""

    __tablename__ = "media_blob"

    id: str = Field(primary_key=True, max_length=36)
    sha256: str = Field(max_length=64)
    size: int
    mime_type: str = Field(max_length=127)
    data: bytes = Field(sa_type=sa.LargeBinary)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Message(SQLModel, table=True):
    """An outbound message: a row of the send queue and its lasting record."""

    __tablename__ = "message"
    __table_args__ = (
        sa.Index("ix_message_queue", "instance", "status", "next_attempt_at"),
        sa.Index("ix_message_created", "created_at"),
        sa.Index("ix_message_telegram", "instance", "recipient_user_id", "telegram_message_id"),
        # A Telegram id the gateway hears of without its chat (deletions name ids only; group
        # replies and reactions): found by instance and id.
        sa.Index("ix_message_instance_telegram", "instance", "telegram_message_id"),
        sa.Index("ix_message_target", "target_id", "created_at"),
        # Whether a media blob is still used (retention deletes it only when not).
        sa.Index("ix_message_media", "media_id"),
        # What expired in the queue (outbound/records.py expire_stale, once a second before a
        # claim): a few index probes, not a scan of every queued row.
        sa.Index("ix_message_unsent_age", "instance", "status", "created_at"),
        sa.Index("ix_message_unsent_expiry", "instance", "status", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    instance: int = Field(foreign_key="instance.number")
    # api (sent by a client) | system (the gateway's own registration replies)
    origin: str = Field(default="api", max_length=8)
    client_id: str | None = Field(default=None, max_length=254)
    to_number: str | None = Field(default=None, max_length=20)
    recipient_user_id: int | None = Field(default=None, sa_type=BigInt)
    recipient_access_hash: int | None = Field(default=None, sa_type=BigInt)
    group_name: str | None = Field(default=None, max_length=255)
    group_admin: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=16)
    text: str | None = Field(default=None, sa_type=sa.Text)
    caption: str | None = Field(default=None, sa_type=sa.Text)
    filename: str | None = Field(default=None, max_length=255)
    mime_type: str | None = Field(default=None, max_length=127)
    media_id: str | None = Field(default=None, foreign_key="media_blob.id")
    media_size: int | None = None
    media_sha256: str | None = Field(default=None, max_length=64)
    reply_to: str | None = Field(default=None, max_length=36)
    reply_to_telegram_id: int | None = Field(default=None, sa_type=BigInt)
    # What a kind carries beyond text and file, as JSON: {"location": {...}}, {"contact":
    # {...}}, {"audio": {"duration_s", "waveform", "title", "performer"}}, {"video": {...}}.
    details: str | None = Field(default=None, sa_type=sa.Text)
    # Sent without a notification sound; with Telegram's link preview (on unless turned off).
    silent: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    link_preview: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    status: str = Field(default=MessageStatus.QUEUED, max_length=16)  # MessageStatus
    error_code: str | None = Field(default=None, max_length=64)
    error_detail: str | None = Field(default=None, max_length=1000)
    # Chosen at enqueue time and never changed: a retry after a crash reuses it, so Telegram
    # answers RANDOM_ID_DUPLICATE instead of delivering a second copy.
    random_id: int = Field(sa_type=BigInt)
    telegram_message_id: int | None = Field(default=None, sa_type=BigInt)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = ts(nullable=True)
    read_at: datetime | None = ts(nullable=True)
    failed_at: datetime | None = ts(nullable=True)
    # The send's own expiry (ttl_s or expires_at when sent); message_ttl_s applies as well.
    expires_at: datetime | None = ts(nullable=True)
    # An action on an earlier message (kind edit | delete | reaction, outbound/actions.py) is a
    # row of this queue too: `target_id` names that message (ours, or an inbound one for a
    # reaction), `target_telegram_id` its Telegram id. Null on every message proper.
    target_id: str | None = Field(default=None, max_length=36)
    target_telegram_id: int | None = Field(default=None, sa_type=BigInt)
    # What the actions did to this message: its last edit (the text or caption columns hold
    # the new words), its deletion for both sides, the account's own reaction on it.
    edited_at: datetime | None = ts(nullable=True)
    deleted_at: datetime | None = ts(nullable=True)
    reaction: str | None = Field(default=None, max_length=64)
    # Where this message's status events go as well (inbound/webhooks/callbacks.py); null: none.
    callback_url: str | None = Field(default=None, max_length=2048)


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"
    __table_args__ = (sa.Index("ix_idempotency_created", "created_at"),)  # retention

    client_id: str = Field(primary_key=True, max_length=254)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UTCDateTime)


class DailyUsage(SQLModel, table=True):
    """Messages accepted through the API per local day (`[limits] day_timezone`)."""

    __tablename__ = "daily_usage"

    day: str = Field(primary_key=True, max_length=10)
    count: int = 0


class Event(SQLModel, table=True):
    """The event log: every fact, written in the transaction that changed the state."""

    __tablename__ = "event"

    seq: int | None = Field(default=None, sa_type=AutoBigInt, primary_key=True)
    id: str = Field(max_length=40, unique=True)
    type: str = Field(max_length=40)  # EventType
    instance: int | None = None
    number: str | None = Field(default=None, max_length=20)
    # The chat the event belongs to ("<instance>:<number>", "<instance>:g:<group>", or
    # "<instance>" for the instance's own events): webhooks keep the order within one.
    conversation: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime)
    payload: str = Field(sa_type=sa.Text)


class InboundMessage(SQLModel, table=True):
    """A message a person sent to an instance, kept once per Telegram message id."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        sa.UniqueConstraint(
            "instance", "channel_id", "telegram_message_id", name="uq_inbound_instance_msg"
        ),
        # The messages that still hold media (retention), and whether a blob is still used.
        sa.Index("ix_inbound_media", "media_id"),
    )

    id: str = Field(primary_key=True, max_length=36)
    instance: int = Field(foreign_key="instance.number")
    telegram_message_id: int = Field(sa_type=BigInt)
    sender_user_id: int = Field(sa_type=BigInt)
    number: str | None = Field(default=None, max_length=20)
    text: str | None = Field(default=None, sa_type=sa.Text)
    media_kind: str | None = Field(default=None, max_length=16)
    media_id: str | None = Field(default=None, foreign_key="media_blob.id")
    filename: str | None = Field(default=None, max_length=255)
    reply_to_telegram_id: int | None = Field(default=None, sa_type=BigInt)
    # registration (greeting, stop word, contact card) | forwarded | ignored
    handling: str = Field(max_length=16)
    received_at: datetime = Field(sa_type=UTCDateTime)
    # Where Telegram numbers the message: 0 for the account's own box (private chats and basic
    # groups share it), a megagroup's channel id for its messages (each channel counts its own).
    channel_id: int = Field(default=0, sa_type=BigInt, sa_column_kwargs={"server_default": "0"})
    # The group it was written in (Telegram's chat id, a megagroup's channel id), else null.
    group_id: int | None = Field(default=None, sa_type=BigInt)
    group_title: str | None = Field(default=None, max_length=255)
    # Telegram's date of the last edit the gateway took (a replayed edit is not taken twice).
    edited_at: datetime | None = ts(nullable=True)
    deleted_at: datetime | None = ts(nullable=True)
    # A location's point as JSON ({"latitude", "longitude", "title", "address"}; `media_kind`
    # "location"), else null.
    location: str | None = Field(default=None, sa_type=sa.Text)


class LoginAlertRecord(SQLModel, table=True):
    """A login to an instance's account from another device that was announced (an
    `account.login_alert` event): Telegram's update and its 777000 notice of the same login are
    paired here, so the login makes one event (inbound/login_alerts.py)."""

    __tablename__ = "login_alert"
    __table_args__ = (
        sa.UniqueConstraint("instance", "auth_hash", name="uq_login_alert_hash"),
        sa.UniqueConstraint("instance", "notice_message_id", name="uq_login_alert_notice"),
        sa.Index("ix_login_alert_instance_at", "instance", "login_at"),
        sa.Index("ix_login_alert_at", "login_at"),  # retention: the old ones
    )

    id: int | None = Field(default=None, primary_key=True)
    instance: int = Field(foreign_key="instance.number")
    # The new session's hash (updateNewAuthorization), the notice's Telegram message id.
    auth_hash: int | None = Field(default=None, sa_type=BigInt)
    notice_message_id: int | None = Field(default=None, sa_type=BigInt)
    login_at: datetime = Field(sa_type=UTCDateTime)
    event_id: str = Field(max_length=40)


class TelegramSession(SQLModel, table=True):
    """A Telethon session (auth key, DC, update state, entity cache), sealed (app/sealing.py)."""

    __tablename__ = "telegram_session"

    instance: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    sealed: bytes = Field(sa_type=sa.LargeBinary)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class InstanceLease(SQLModel, table=True):
    """Who holds an instance's Telegram session (app/lease.py). `token` grows with every new
    holder: the owner's writes check it, so a process that lost the lease cannot write."""

    __tablename__ = "instance_lease"

    instance: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    owner: str = Field(max_length=64)
    token: int = Field(sa_type=BigInt)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    acquired_at: datetime = Field(sa_type=UTCDateTime)
    # SQLite: the lock file the holder locked ("device:inode"). A process that locks that same
    # file knows its holder died (the kernel freed the lock) and need not wait for the expiry.
    lock_file: str | None = Field(default=None, max_length=64)


class InstanceProfile(SQLModel, table=True):
    """The profile the gateway last gave an instance's account (admin API, CLI or config)."""

    __tablename__ = "instance_profile"

    instance: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    first_name: str | None = Field(default=None, max_length=64)
    last_name: str | None = Field(default=None, max_length=64)
    about: str | None = Field(default=None, max_length=255)
    photo_media_id: str | None = Field(default=None, foreign_key="media_blob.id")
    photo_width: int | None = None
    photo_height: int | None = None
    # Fingerprint of the [instances.profile] last applied: applied again only when it changes.
    applied_config: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(sa_type=UTCDateTime)
