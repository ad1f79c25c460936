"""The updates of a send-queue row that messages and actions share: failed for good, or back
in the queue for a retry (Core statements, built once: they run on the hot path)."""

from __future__ import annotations

from sqlalchemy import bindparam, update

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
