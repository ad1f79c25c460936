"""Messages accepted per API client and local day: the count a client's own daily quota
(`api_client.daily_quota`) is checked against, beside the deployment's `daily_usage`."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class ClientDailyUsage(SQLModel, table=True):
    __tablename__ = "client_daily_usage"
    __table_args__ = (sa.Index("ix_client_daily_usage_day", "day"),)  # retention: old days

    client_id: str = Field(primary_key=True, max_length=254)
    day: str = Field(primary_key=True, max_length=10)  # in [limits] day_timezone
    count: int = 0
