"""The gateway's words: every status and event type, one `StrEnum` each.

Models, request and response schemas, the OpenAPI document, the CLI and the console take their
values from here, so a new status is added in one place. A `StrEnum` member *is* its string
(`MessageStatus.SENT == "sent"`), so rows, JSON bodies and SQL parameters need no conversion.
"""

from __future__ import annotations

import json
from enum import StrEnum


class MessageStatus(StrEnum):
    """Where an outbound message is. `read` follows `sent` when the person has read it."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    READ = "read"
    FAILED = "failed"


class ActionStatus(StrEnum):
    """An edit, deletion or reaction asked through the API (a row of the send queue, like a
    message): `done` once Telegram took it."""

    QUEUED = "queued"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"


class InstanceStatus(StrEnum):
    """An instance's connection and, while logged in, the account's condition."""

    LOGGED_OUT = "logged_out"
    AWAITING_CODE = "awaiting_code"
    AWAITING_PASSWORD = "awaiting_password"
    AWAITING_QR = "awaiting_qr"
    READY = "ready"
    # The account's condition (its health), each with a human detail and the time since:
    FLOOD_WAIT = "flood_wait"  # Telegram asked to wait (FloodWait): paused until paused_until
    RESTRICTED = "restricted"  # limited for messaging people (PEER_FLOOD, or @SpamBot says so)
    FROZEN = "frozen"  # Telegram froze the account: it can log in but not act
    BANNED = "banned"  # Telegram banned the account (USER_DEACTIVATED_BAN, PHONE_NUMBER_BANNED)
    DEACTIVATED = "deactivated"  # the account was deleted (USER_DEACTIVATED)
    REVOKED = "revoked"  # the session was ended elsewhere (from a phone, or by Telegram)


# The account's condition while it stays logged in: a connection lost and regained changes
# nothing about it (a pause's end, or a later check, does).
ACCOUNT_CONDITIONS = (InstanceStatus.FLOOD_WAIT, InstanceStatus.RESTRICTED, InstanceStatus.FROZEN)
# Statuses in which the queue holds every message until a new login (or their TTL).
NEEDS_LOGIN = (
    InstanceStatus.REVOKED,
    InstanceStatus.BANNED,
    InstanceStatus.DEACTIVATED,
    InstanceStatus.LOGGED_OUT,
)


class RecipientStatus(StrEnum):
    """A person's registration: only `registered` people can be messaged."""

    REGISTERED = "registered"
    PENDING = "pending"
    UNREGISTERED = "unregistered"


class DeliveryStatus(StrEnum):
    """A webhook delivery row. `delivered` and `dead` are final."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    DEAD = "dead"


class ClientState(StrEnum):
    """An API client's credentials."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Scope(StrEnum):
    """What an API client may do; each operation of the client surfaces needs one."""

    SEND = "send"  # send, edit, delete, react, cancel
    READ = "read"  # messages, their actions, conversations, instance status
    RECIPIENTS = "recipients"  # the recipient list, unregistering, reachability checks
    EVENTS = "events"  # the event log, the stream and the pull queues


class EventType(StrEnum):
    """The event log's types: what webhooks, `GET /api/v1/events` and the console show."""

    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    MESSAGE_READ = "message.read"
    MESSAGE_FAILED = "message.failed"
    # A person's edit, deletion or reaction, or one the gateway made through the API.
    MESSAGE_EDITED = "message.edited"
    MESSAGE_DELETED = "message.deleted"
    MESSAGE_REACTION = "message.reaction"
    RECIPIENT_REGISTERED = "recipient.registered"
    RECIPIENT_UNREGISTERED = "recipient.unregistered"
    INSTANCE_STATUS = "instance.status"
    ACCOUNT_LOGIN_ALERT = "account.login_alert"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The enum's values in declaration order (for messages and JSON Schema `enum`)."""
    return tuple(member.value for member in enum)


def for_the_console() -> str:
    """The vocabulary as a script for the admin console (`/admin/static/vocabulary.js`), so its
    filters and status badges list exactly the values the gateway has."""
    words = {
        "MESSAGE_STATUSES": values(MessageStatus),
        "ACTION_STATUSES": values(ActionStatus),
        "RECIPIENT_STATUSES": values(RecipientStatus),
        "DELIVERY_STATUSES": values(DeliveryStatus),
        "INSTANCE_STATUSES": values(InstanceStatus),
        "EVENT_TYPES": values(EventType),
        "SCOPES": values(Scope),
    }
    return f"window.TGW_VOCABULARY = Object.freeze({json.dumps(words)});\n"
