"""Webhook endpoints, their delivery queue and every attempt."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.columns import AutoBigInt, BigInt, UTCDateTime, ts


class WebhookEndpoint(SQLModel, table=True):
    """A receiver of events: from `[[webhooks]]` in the config or from the admin API."""

    __tablename__ = "webhook_endpoint"

    id: str = Field(primary_key=True, max_length=40)
    url: str = Field(max_length=2048)
    # The signing secret ("whsec_..."), sealed (app/sealing.py) under the deployment's
    # secret_key: it must be recoverable to sign, so it cannot be hashed.
    secret: bytes = Field(sa_type=sa.LargeBinary)
    # During a rotation the old secret signs too, until `previous_secret_until`.
    previous_secret: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    previous_secret_until: datetime | None = ts(nullable=True)
    # JSON list of event types (EventType); null: every type.
    events: str | None = Field(default=None, sa_type=sa.Text)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=255)
    disabled_at: datetime | None = ts(nullable=True)
    # config | api | callback (hidden: a client's callback URL, inbound/webhooks/callbacks.py)
    source: str = Field(max_length=8)
    # The API client whose callbacks a `callback` endpoint delivers; null on the others.
    client_id: str | None = Field(default=None, max_length=254)
    # The body's shape: "standard" (every subscribed event, the full body) or "whatsmate"
    # (message.received only, in the hosted WhatsMate gateway's flat shape).
    format: str = Field(
        default="standard", max_length=16, sa_column_kwargs={"server_default": "standard"}
    )
    # WhatsMate's `token` (a string the receiver compares), sealed like the secret; null: none.
    token: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    # Fan-out position in the event log: events after this seq get a delivery row.
    last_seq: int = Field(default=0, sa_type=BigInt)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint: a row of the delivery queue and its lasting record."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # Fan-out may run again over the same events (two processes): once per endpoint.
        sa.UniqueConstraint("endpoint_id", "event_seq", name="uq_delivery_endpoint_event"),
        sa.Index("ix_delivery_due", "status", "next_attempt_at"),
        # "Is an earlier delivery of this conversation still open?" (ordering)
        sa.Index("ix_delivery_conversation", "endpoint_id", "conversation", "status", "event_seq"),
        sa.Index("ix_delivery_endpoint", "endpoint_id", "id"),
    )

    id: int | None = Field(default=None, sa_type=AutoBigInt, primary_key=True)
    endpoint_id: str = Field(max_length=40, foreign_key="webhook_endpoint.id")
    # Null for a test event, which is not in the event log (its body is in `payload`).
    event_seq: int | None = Field(default=None, sa_type=BigInt)
    # The webhook-id header: the same on every attempt, so receivers can deduplicate.
    event_id: str = Field(max_length=40)
    event_type: str = Field(max_length=40)
    conversation: str | None = Field(default=None, max_length=300)
    payload: str | None = Field(default=None, sa_type=sa.Text)
    status: str = Field(max_length=12)  # DeliveryStatus
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=1000)
    last_status_code: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = ts(nullable=True)


class DeliveryAttempt(SQLModel, table=True):
    """Every attempt of a delivery, as the admin API lists it."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (sa.Index("ix_attempt_delivery", "delivery_id", "id"),)

    id: int | None = Field(default=None, sa_type=AutoBigInt, primary_key=True)
    delivery_id: int = Field(sa_type=BigInt, foreign_key="webhook_delivery.id")
    attempted_at: datetime = Field(sa_type=UTCDateTime)
    status_code: int | None = None
    latency_ms: int = 0
    # The first 1 KiB of the response body (decoded leniently).
    response_excerpt: str | None = Field(default=None, sa_type=sa.Text)
    error: str | None = Field(default=None, max_length=1000)
