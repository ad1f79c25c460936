"""Per-message status callbacks: each API client's signing secret, and the fan-out cursor.

The deliveries themselves are rows of the webhook queue (app/models/webhooks.py), for a hidden
endpoint per (client, callback URL): see inbound/webhooks/callbacks.py.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from app.models.columns import BigInt, UTCDateTime, ts


class ClientCallbackSecret(SQLModel, table=True):
    """The secret that signs an API client's callbacks ("whsec_..."), sealed like a webhook
    endpoint's (app/sealing.py); made on first use."""

    __tablename__ = "client_callback_secret"

    client_id: str = Field(primary_key=True, max_length=254)
    secret: bytes = Field(sa_type=sa.LargeBinary)
    # After a rotation the old secret signs too, until `previous_secret_until`.
    previous_secret: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    previous_secret_until: datetime | None = ts(nullable=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class CallbackCursor(SQLModel, table=True):
    """How far the callback fan-out has read the event log (one row, id 1)."""

    __tablename__ = "callback_cursor"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_seq: int = Field(default=0, sa_type=BigInt)
