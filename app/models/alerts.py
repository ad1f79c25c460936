"""Operator alerts: conditions an operator must hear about (app/alerts/)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.columns import AutoBigInt, BigInt, UTCDateTime, ts


class Alert(SQLModel, table=True):
    """One alert, written in the transaction of the fact it reports."""

    __tablename__ = "alert"
    __table_args__ = (sa.Index("ix_alert_created", "created_at"),)

    id: int | None = Field(default=None, sa_type=AutoBigInt, primary_key=True)
    kind: str = Field(max_length=40)  # AlertKind
    severity: str = Field(max_length=12)  # critical | warning | info
    instance: int | None = None
    summary: str = Field(max_length=500)
    detail: str = Field(sa_type=sa.Text)  # JSON object
    # The condition it reports ("instance:3:banned"): kept for reading after it clears.
    condition: str | None = Field(default=None, max_length=200)
    # The condition while it holds; null once cleared. Unique: a condition that still holds
    # cannot be raised again (in any process): that is the deduplication.
    open_key: str | None = Field(default=None, max_length=200, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    resolved_at: datetime | None = ts(nullable=True)
    # Its delivery to the alert webhook (webhook_delivery.id); null: no alert webhook was set.
    # No foreign key: deleting the endpoint deletes its deliveries, the alert stays.
    delivery_id: int | None = Field(default=None, sa_type=BigInt)
