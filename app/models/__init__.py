"""Every table of the gateway (SQLModel), by concern in the modules of this package, all
imported here (alembic sees them all). Query helpers live with their users, not here."""

from __future__ import annotations

from app.models.alerts import Alert
from app.models.callbacks import CallbackCursor, ClientCallbackSecret
from app.models.changes import (
    InboundGroup,
    InboundReaction,
    MessageDeletion,
)
from app.models.cluster import ClusterProcess
from app.models.columns import (
    AutoBigInt,
    BigInt,
    UTCDateTime,
    table_of,
    ts,
    utcnow,
)
from app.models.core import (
    ApiClient,
    ConsoleSignout,
    DailyUsage,
    Event,
    IdempotencyRecord,
    InboundMessage,
    Instance,
    InstanceLease,
    InstanceProfile,
    LoginAlertRecord,
    MediaBlob,
    Message,
    Recipient,
    TelegramSession,
)
from app.models.event_queues import EventQueue
from app.models.history import HistoryMessage
from app.models.retention import PrunedEvents
from app.models.usage import ClientDailyUsage
from app.models.webhooks import (
    DeliveryAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "Alert",
    "ApiClient",
    "AutoBigInt",
    "BigInt",
    "CallbackCursor",
    "ClientCallbackSecret",
    "ClientDailyUsage",
    "ClusterProcess",
    "ConsoleSignout",
    "DailyUsage",
    "DeliveryAttempt",
    "Event",
    "EventQueue",
    "HistoryMessage",
    "IdempotencyRecord",
    "InboundGroup",
    "InboundMessage",
    "InboundReaction",
    "Instance",
    "InstanceLease",
    "InstanceProfile",
    "LoginAlertRecord",
    "MediaBlob",
    "Message",
    "MessageDeletion",
    "PrunedEvents",
    "Recipient",
    "TelegramSession",
    "UTCDateTime",
    "WebhookDelivery",
    "WebhookEndpoint",
    "table_of",
    "ts",
    "utcnow",
]
