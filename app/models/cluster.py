"""The processes of a deployment sharing one database (app/cluster/)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.columns import UTCDateTime


class ClusterProcess(SQLModel, table=True):
    """A running `tgw serve`: registered at start, renewed every few seconds, deleted at a
    clean stop. One whose `expires_at` passed is dead (killed, frozen, cut off): it no longer
    counts in anybody's fair share. `id` is also the `owner` of the leases it holds."""

    __tablename__ = "cluster_process"

    id: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=8)
    host: str = Field(max_length=255)
    pid: int
    address: str | None = Field(default=None, max_length=255)
    max_sessions: int | None = None
    started_at: datetime = Field(sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
