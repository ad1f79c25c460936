"""Rows for the retention tests, written straight into the tables (the job only sees rows)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from app.db import Database
from app.models import (
    Alert,
    CallbackCursor,
    ConsoleSignout,
    DeliveryAttempt,
    Event,
    EventQueue,
    IdempotencyRecord,
    InboundMessage,
    Instance,
    MediaBlob,
    Message,
    WebhookDelivery,
    WebhookEndpoint,
    table_of,
)
from app.retention.job import RetentionJob
from app.settings import RetentionSettings
from tests.conftest import Clock

DAY = timedelta(days=1)


def job(
    database: Database, clock: Clock, deleted: list[tuple[str, int]] | None = None, **conf: Any
) -> RetentionJob:
    settings = RetentionSettings(pause_s=0, **conf)
    on_deleted = None if deleted is None else (lambda t, n: deleted.append((t, n)))
    return RetentionJob(database, settings, clock, on_deleted=on_deleted)


async def put(database: Database, model: Any, *rows: dict[str, Any]) -> list[Any]:
    """Insert `rows` into the model's table; their primary keys."""

    def work(conn: Connection) -> list[Any]:
        table = table_of(model)
        return [conn.execute(insert(table).values(**row)).inserted_primary_key[0] for row in rows]

    return await database.run(work)


async def count(database: Database, model: Any, *where: Any) -> int:
    table = table_of(model)
    return await database.run(
        lambda conn: int(
            conn.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0
        )
    )


async def ids(database: Database, model: Any, column: str) -> set[Any]:
    table = table_of(model)
    return await database.run(lambda conn: set(conn.execute(select(table.c[column])).scalars()))


async def instance(database: Database, at: datetime) -> None:
    await put(database, Instance, {"number": 1, "backend": "sandbox", "updated_at": at})


async def events(database: Database, *created: datetime) -> list[int]:
    """Events created at these times, in seq order; their seqs."""
    rows = [
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "message.sent",
            "instance": 1,
            "conversation": "1:34600000000",
            "created_at": at,
            "payload": "{}",
        }
        for at in created
    ]
    return [int(seq) for seq in await put(database, Event, *rows)]


async def cursor(database: Database, seq: int) -> None:
    await put(database, CallbackCursor, {"id": 1, "last_seq": seq})


async def endpoint(
    database: Database,
    last_seq: int,
    at: datetime,
    *,
    enabled: bool = True,
    disabled_at: datetime | None = None,
    source: str = "api",
    endpoint_id: str | None = None,
) -> str:
    row = {
        "id": endpoint_id or f"ep_{uuid.uuid4().hex[:12]}",
        "url": "https://example.com/hook",
        "secret": b"sealed",
        "enabled": enabled,
        "disabled_at": disabled_at,
        "source": source,
        "last_seq": last_seq,
        "created_at": at,
        "updated_at": at,
    }
    await put(database, WebhookEndpoint, row)
    return str(row["id"])


async def queue(database: Database, acked_seq: int, at: datetime) -> None:
    row = {
        "client_id": "ops@example.com",
        "name": f"q{uuid.uuid4().hex[:8]}",
        "visibility_timeout_s": 30,
        "acked_seq": acked_seq,
        "leased_through_seq": acked_seq,
        "version": 0,
        "created_at": at,
        "updated_at": at,
    }
    await put(database, EventQueue, row)


async def delivery(
    database: Database,
    endpoint_id: str,
    status: str,
    at: datetime,
    *,
    event_seq: int | None = None,
    attempts: int = 1,
) -> int:
    """A delivery made, attempted, and (delivered or dead) at `at`."""
    row = {
        "endpoint_id": endpoint_id,
        "event_seq": event_seq,
        "event_id": f"evt_{uuid.uuid4().hex}",
        "event_type": "message.sent",
        "status": status,
        "attempts": attempts,
        "next_attempt_at": at,
        "created_at": at,
        "delivered_at": at if status == "delivered" else None,
    }
    (delivery_id,) = await put(database, WebhookDelivery, row)
    attempt = {"delivery_id": delivery_id, "attempted_at": at, "latency_ms": 5}
    await put(database, DeliveryAttempt, *([attempt] * attempts))
    return int(delivery_id)


async def blob(database: Database, at: datetime) -> str:
    row = {
        "id": str(uuid.uuid4()),
        "sha256": "0" * 64,
        "size": 3,
        "mime_type": "image/png",
        "data": b"png",
        "created_at": at,
    }
    await put(database, MediaBlob, row)
    return str(row["id"])


async def message(
    database: Database,
    status: str,
    at: datetime,
    *,
    media_id: str | None = None,
    target_id: str | None = None,
    kind: str = "text",
) -> str:
    row = {
        "id": str(uuid.uuid4()),
        "instance": 1,
        "kind": kind,
        "text": "hello",
        "status": status,
        "random_id": uuid.uuid4().int >> 65,
        "next_attempt_at": at,
        "created_at": at,
        "media_id": media_id,
        "target_id": target_id,
    }
    await put(database, Message, row)
    return str(row["id"])


async def inbound(database: Database, at: datetime, media_id: str | None) -> str:
    row = {
        "id": str(uuid.uuid4()),
        "instance": 1,
        "telegram_message_id": uuid.uuid4().int >> 70,
        "sender_user_id": 42,
        "text": "a photo",
        "media_kind": "photo" if media_id else None,
        "media_id": media_id,
        "handling": "forwarded",
        "received_at": at,
    }
    await put(database, InboundMessage, row)
    return str(row["id"])


async def idempotency_key(database: Database, key: str, at: datetime) -> None:
    row = {
        "client_id": "ops@example.com",
        "key": key,
        "request_hash": "0" * 64,
        "status_code": 200,
        "response_body": "{}",
        "created_at": at,
    }
    await put(database, IdempotencyRecord, row)


async def alert(
    database: Database,
    at: datetime,
    *,
    open_key: str | None = None,
    resolved_at: datetime | None = None,
) -> int:
    row = {
        "kind": "instance.unhealthy",
        "severity": "warning",
        "summary": "instance 1 is unhealthy",
        "detail": "{}",
        "open_key": open_key,
        "created_at": at,
        "resolved_at": resolved_at,
    }
    (alert_id,) = await put(database, Alert, row)
    return int(alert_id)


async def signout(database: Database, session_id: str, expires_at: datetime) -> None:
    await put(database, ConsoleSignout, {"session_id": session_id, "expires_at": expires_at})
