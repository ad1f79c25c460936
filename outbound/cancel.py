"""Cancelling a queued send: the row fails as `cancelled`, unless the send worker got it first.

The cancel is one conditional UPDATE (`... WHERE status = 'queued'`), so it and the worker's
claim (outbound/claims.py, which moves rows to `sending`) cannot both win: whichever commits
first decides, and the other finds the row no longer queued. A message is therefore either
sent once or cancelled, never both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import update

from app.db import Database
from app.errors import ApiError
from app.events import append_event, conversation_key
from app.models import Instance, Message, table_of
from app.vocabulary import EventType, MessageStatus
from outbound.records import message_event_data
from outbound.validation import is_message_id

M = table_of(Message)
CANCELLED = "cancelled"

# Called between the cancel's read and its write: tests force the worker's claim in there.
BeforeWrite = Callable[[], Awaitable[None]]


async def _noop() -> None:
    return None


async def cancel_queued(
    database: Database,
    row_id: str,
    client_id: str,
    now: datetime,
    *,
    action_of: str | None = None,
    before_write: BeforeWrite = _noop,
) -> Message:
    """Fail the client's queued message (or its action on message `action_of`) as `cancelled`.

    Another client's row, or a message where an action is asked (and the reverse), is not
    found (404); a row that is no longer queued is `not_cancellable` (409), naming its status.
    """
    what = "message" if action_of is None else "action"
    async with database.read() as session:
        row = await session.get(Message, row_id) if is_message_id(row_id) else None
    if row is None or row.client_id != client_id or row.target_id != action_of:
        raise ApiError("not_found", f"No {what} with id {row_id!r}")
    await before_write()
    async with database.write() as session:
        changed = await session.execute(
            update(M)
            .where(M.c.id == row_id, M.c.status == MessageStatus.QUEUED)
            .values(
                status=MessageStatus.FAILED,
                error_code=CANCELLED,
                error_detail="cancelled by the client before it was sent",
                failed_at=now,
            )
        )
        current = await session.get(Message, row_id, populate_existing=True)
        assert current is not None  # rows of the queue are never deleted
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise ApiError(
                "not_cancellable",
                f"The {what} is {current.status}: only a queued {what} can be cancelled",
            )
        # As when a message expires: an action that is cancelled is no message that failed.
        if current.origin == "api" and current.target_id is None:
            inst = await session.get(Instance, current.instance)
            await append_event(
                session,
                EventType.MESSAGE_FAILED,
                now=now,
                instance=current.instance,
                number=current.to_number,
                gateway_number=inst.phone if inst else None,
                conversation=conversation_key(
                    current.instance, current.to_number, current.group_name
                ),
                data=message_event_data(current.model_dump(), {}),
            )
    return current
