"""The retention rules other than the event log's: each deletes one batch in the caller's
transaction (a sync Connection, run by `Database.run`) and says whether there may be more.

Rows are chosen by a condition on an indexed column and deleted by primary key; on
PostgreSQL the chosen rows are locked with SKIP LOCKED, so a row another transaction is
changing (a delivery being replayed, a message being sent) is left for the next run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, or_, select, tuple_, update
from sqlalchemy.engine import Connection

from app.models import (
    Alert,
    ConsoleSignout,
    DeliveryAttempt,
    IdempotencyRecord,
    InboundMessage,
    InstanceProfile,
    MediaBlob,
    Message,
    WebhookDelivery,
    table_of,
)
from app.vocabulary import ActionStatus, DeliveryStatus, MessageStatus

D = table_of(WebhookDelivery)
A = table_of(DeliveryAttempt)
M = table_of(Message)
I = table_of(InboundMessage)  # noqa: E741
B = table_of(MediaBlob)
P = table_of(InstanceProfile)
K = table_of(IdempotencyRecord)
AL = table_of(Alert)
S = table_of(ConsoleSignout)

# Final states of a row of the send queue: a message's, or an action's (`done`).
FINAL_MESSAGE_STATES = (
    MessageStatus.SENT,
    MessageStatus.READ,
    MessageStatus.FAILED,
    ActionStatus.DONE,
)


@dataclass
class Batch:
    """What one batch deleted, per table, and whether the batch was full (there may be more)."""

    deleted: dict[str, int] = field(default_factory=dict)
    more: bool = False


def _locked(conn: Connection, query: Select[Any]) -> Select[Any]:
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def delivered_deliveries(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """Deliveries delivered before `cutoff`, with their attempts.

    A delivered row's `next_attempt_at` is the end of its last claim's lease, just after its
    delivery: the condition on it lets the (status, next_attempt_at) index find the rows."""
    return _deliveries(
        conn,
        limit,
        D.c.status == DeliveryStatus.DELIVERED,
        D.c.next_attempt_at < cutoff,
        D.c.delivered_at < cutoff,
    )


def dead_deliveries(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """Deliveries that died before `cutoff` (a dead row's `next_attempt_at` is its death)."""
    return _deliveries(conn, limit, D.c.status == DeliveryStatus.DEAD, D.c.next_attempt_at < cutoff)


def _deliveries(conn: Connection, limit: int, *where: Any) -> Batch:
    ids = list(conn.execute(_locked(conn, select(D.c.id).where(*where).limit(limit))).scalars())
    if not ids:
        return Batch()
    attempts = conn.execute(delete(A).where(A.c.delivery_id.in_(ids))).rowcount
    deliveries = conn.execute(delete(D).where(D.c.id.in_(ids))).rowcount
    return Batch({"webhook_delivery": deliveries, "delivery_attempt": attempts}, len(ids) >= limit)


def messages(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """Messages and actions in a final state created before `cutoff`, then their media blobs
    that nothing uses any more.

    Actions go by their own age, not with their target: an action is the record of what was
    done, and a message's actions are made after it, so they go at the latest a little later.
    """
    query = select(M.c.id, M.c.media_id).where(
        M.c.created_at < cutoff, M.c.status.in_(FINAL_MESSAGE_STATES)
    )
    rows = conn.execute(_locked(conn, query.limit(limit))).all()
    if not rows:
        return Batch()
    gone = conn.execute(delete(M).where(M.c.id.in_([r.id for r in rows]))).rowcount
    blobs = unused_blobs(conn, (r.media_id for r in rows))
    return Batch({"message": gone, "media_blob": blobs}, len(rows) >= limit)


def inbound_media(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """The media of inbound messages received before `cutoff`: the row forgets its blob (its
    text, kind and file name stay), and the blob goes once nothing uses it."""
    query = select(I.c.id, I.c.media_id).where(I.c.media_id.is_not(None), I.c.received_at < cutoff)
    rows = conn.execute(_locked(conn, query.limit(limit))).all()
    if not rows:
        return Batch()
    conn.execute(update(I).where(I.c.id.in_([r.id for r in rows])).values(media_id=None))
    blobs = unused_blobs(conn, (r.media_id for r in rows))
    return Batch({"media_blob": blobs}, len(rows) >= limit)


def unused_blobs(conn: Connection, candidates: Iterable[str | None]) -> int:
    """Delete those of the `candidates` no message, inbound message or profile uses.

    A blob may be shared (one picture sent to many numbers in one request): it stays while
    any of its users stays."""
    ids = sorted({c for c in candidates if c is not None})
    if not ids:
        return 0
    used = (
        exists().where(M.c.media_id == B.c.id),
        exists().where(I.c.media_id == B.c.id),
        exists().where(P.c.photo_media_id == B.c.id),
    )
    statement = delete(B).where(B.c.id.in_(ids), *(~u for u in used))
    return int(conn.execute(statement).rowcount)


def idempotency_keys(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    query = select(K.c.client_id, K.c.key).where(K.c.created_at < cutoff).limit(limit)
    keys = [tuple(r) for r in conn.execute(query)]
    if not keys:
        return Batch()
    statement = delete(K).where(tuple_(K.c.client_id, K.c.key).in_(keys), K.c.created_at < cutoff)
    return Batch({"idempotency_record": conn.execute(statement).rowcount}, len(keys) >= limit)


def alerts(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """Alerts raised before `cutoff` whose condition has cleared (or that had none) before
    it. An open alert stays: it is what keeps the same condition from being raised twice."""
    query = select(AL.c.id).where(
        AL.c.created_at < cutoff,
        AL.c.open_key.is_(None),
        or_(AL.c.resolved_at.is_(None), AL.c.resolved_at < cutoff),
    )
    ids = list(conn.execute(query.limit(limit)).scalars())
    if not ids:
        return Batch()
    gone = conn.execute(delete(AL).where(AL.c.id.in_(ids))).rowcount
    return Batch({"alert": gone}, len(ids) >= limit)


def console_signouts(conn: Connection, now: datetime, limit: int) -> Batch:
    """Signed-out console sessions whose cookie has expired anyway: nothing to refuse."""
    query = select(S.c.session_id).where(S.c.expires_at <= now).limit(limit)
    ids = list(conn.execute(query).scalars())
    if not ids:
        return Batch()
    gone = conn.execute(delete(S).where(S.c.session_id.in_(ids))).rowcount
    return Batch({"console_signout": gone}, len(ids) >= limit)
