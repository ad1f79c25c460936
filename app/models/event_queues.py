"""Pull queues over the event log: a named, durable cursor per API client."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.columns import AutoBigInt, BigInt, UTCDateTime, ts


class EventQueue(SQLModel, table=True):
    """A client's cursor over the event log, with one lease window (inbound/event_queues).

    Events after `acked_seq` are not done yet. `next` hands out events after `acked_seq`, or
    after `leased_through_seq` while the lease is live (`lease_expires_at` in the future); once
    the lease has expired they are handed out again (at least once). Every change bumps
    `version`, and every write is conditional on the version read, so two `next` calls that
    read the same position cannot both hand out the same events.
    """

    __tablename__ = "event_queue"
    __table_args__ = (sa.UniqueConstraint("client_id", "name", name="uq_event_queue_name"),)

    id: int | None = Field(default=None, sa_type=AutoBigInt, primary_key=True)
    client_id: str = Field(max_length=254)
    name: str = Field(max_length=64)
    # JSON list of event types (EventType); null: every type.
    types: str | None = Field(default=None, sa_type=sa.Text)
    instance: int | None = None
    visibility_timeout_s: int
    acked_seq: int = Field(default=0, sa_type=BigInt)
    leased_through_seq: int = Field(default=0, sa_type=BigInt)
    lease_expires_at: datetime | None = ts(nullable=True)
    version: int = Field(default=0, sa_type=BigInt)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
