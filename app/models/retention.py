"""What the retention job (app/retention/) leaves behind for the log's readers."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.columns import BigInt, UTCDateTime


class PrunedEvents(SQLModel, table=True):
    """How far the event log was pruned (one row, id 1; absent: never pruned).

    `through_seq` is the highest seq the retention job deleted, written in the transaction of
    the deletion: a reader asking for events after a lower seq may have missed some (events
    a delivery still held may be left below it, none above it was deleted)."""

    __tablename__ = "pruned_events"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    through_seq: int = Field(default=0, sa_type=BigInt)
    pruned_at: datetime = Field(sa_type=UTCDateTime)
