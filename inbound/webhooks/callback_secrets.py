"""Each API client's callback signing secret (`client_callback_secret`): made on first use,
rotated with 24 h of overlap like a webhook endpoint's, and copied onto the client's hidden
callback endpoints (inbound/webhooks/callbacks.py), sealed anew for each: the delivery worker
signs with an endpoint's own columns, so nothing of it had to change.

Functions run on a sync Connection (the SqlRunner: `Database.run`) and never commit. The
client's row is locked (PostgreSQL) both by a rotation and by the fan-out that copies it onto
a new endpoint, so a new endpoint can never miss a rotation that commits at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from app.models import ClientCallbackSecret, WebhookEndpoint, table_of
from app.sealing import SealError, seal, unseal
from inbound.webhooks.endpoints import ROTATION_OVERLAP, SecretBox
from inbound.webhooks.signing import new_secret

S = table_of(ClientCallbackSecret)
E = table_of(WebhookEndpoint)
SOURCE = "callback"


@dataclass(frozen=True)
class CallbackSecret:
    """A client's secret as the admin reads it; `previous_secret_until`: while the one before
    still signs too (after a rotation)."""

    client_id: str
    secret: str
    previous_secret_until: datetime | None


def _bound(client_id: str) -> bytes:
    return f"client_callback_secret:{client_id}".encode()


def insert_ignore(conn: Connection, table: Any, row: dict[str, Any], keys: list[str]) -> None:
    """Insert `row` unless a row with its `keys` exists (a concurrent maker won)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(table).values(**row).on_conflict_do_nothing(index_elements=keys))


def secret_row(conn: Connection, box: SecretBox, client_id: str, now: datetime) -> Any:
    """The client's row, locked on PostgreSQL, made now with a new secret if it has none."""
    query = select(S).where(S.c.client_id == client_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        made = {
            "client_id": client_id,
            "secret": seal(box.key, new_secret().encode(), _bound(client_id)),
            "previous_secret": None,
            "previous_secret_until": None,
            "created_at": now,
            "updated_at": now,
        }
        insert_ignore(conn, S, made, ["client_id"])
        row = conn.execute(query).one()
    return row


def read_secret(conn: Connection, box: SecretBox, client_id: str, now: datetime) -> CallbackSecret:
    """The client's secret (made now if it has none); SealError if it does not open."""
    row = secret_row(conn, box, client_id, now)
    return CallbackSecret(client_id, _open(box, client_id, row.secret), _until(row, now))


def rotate_secret(
    conn: Connection, box: SecretBox, client_id: str, now: datetime
) -> CallbackSecret:
    """A new secret for the client and every callback endpoint of it; the current one goes on
    signing beside it for 24 h."""
    row = secret_row(conn, box, client_id, now)
    secret = new_secret()
    until = now + ROTATION_OVERLAP
    conn.execute(
        update(S)
        .where(S.c.client_id == client_id)
        .values(
            secret=seal(box.key, secret.encode(), _bound(client_id)),
            previous_secret=row.secret,
            previous_secret_until=until,
            updated_at=now,
        )
    )
    mine = conn.execute(
        select(E.c.id, E.c.secret).where(E.c.source == SOURCE, E.c.client_id == client_id)
    ).all()
    for endpoint in mine:
        conn.execute(
            update(E)
            .where(E.c.id == endpoint.id)
            .values(
                secret=box.seal(endpoint.id, secret),
                previous_secret=endpoint.secret,
                previous_secret_until=until,
                updated_at=now,
            )
        )
    return CallbackSecret(client_id, secret, until)


def endpoint_secrets(box: SecretBox, row: Any, endpoint_id: str, now: datetime) -> dict[str, Any]:
    """The secret columns of a new callback endpoint, from the client's row."""
    try:
        sealed = box.seal(endpoint_id, _open(box, row.client_id, row.secret))
    except SealError:
        # sealed under another secret_key: kept as it is, it does not open under the endpoint
        # either, so its attempts fail saying so (and are retried) until the admin rotates.
        sealed = row.secret
    previous, until = None, _until(row, now)
    if until is not None:
        try:
            previous = box.seal(endpoint_id, _open(box, row.client_id, row.previous_secret))
        except SealError:
            until = None
    return {"secret": sealed, "previous_secret": previous, "previous_secret_until": until}


def _open(box: SecretBox, client_id: str, blob: bytes) -> str:
    return unseal(box.key, blob, _bound(client_id)).decode()


def _until(row: Any, now: datetime) -> datetime | None:
    until: datetime | None = row.previous_secret_until
    if until is None or row.previous_secret is None or until <= now:
        return None
    return until
