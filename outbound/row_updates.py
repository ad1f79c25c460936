"""The updates of a send-queue row that messages and actions share: failed for good, or back
in the queue for a retry (Core statements, built once: they run on the hot path)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection

from app.models import Message, UTCDateTime, table_of
from app.vocabulary import MessageStatus

M = table_of(Message)

AT = bindparam("b_at", type_=UTCDateTime())
MARK_FAILED = (
    update(M)
    .where(M.c.id == bindparam("b_id"))
    .values(
        status=MessageStatus.FAILED,
        error_code=bindparam("b_code"),
        error_detail=bindparam("b_detail"),
        failed_at=AT,
    )
)
MARK_RETRY = (
    update(M)
    .where(M.c.id == bindparam("b_id"))
    .values(status=MessageStatus.QUEUED, next_attempt_at=AT, last_error=bindparam("b_error"))
)


def failed_params(
    row_id: str, code: str | None, detail: str | None, at: datetime
) -> dict[str, Any]:
    """MARK_FAILED's parameters: a stable code ("failed" when none) and a bounded detail."""
    return {
        "b_id": row_id,
        "b_code": code or "failed",
        "b_detail": (detail or "")[:1000] or None,
        "b_at": at,
    }


def retry_params(row_id: str, at: datetime, reason: str) -> dict[str, Any]:
    return {"b_id": row_id, "b_at": at, "b_error": reason[:1000]}


def write_failed_and_retried(
    conn: Connection, failed: list[dict[str, Any]], retried: list[dict[str, Any]]
) -> None:
    """One executemany each (none when empty)."""
    if failed:
        conn.execute(MARK_FAILED, failed)
    if retried:
        conn.execute(MARK_RETRY, retried)
