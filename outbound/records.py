"""Writing what became of sends: message rows and their `message.sent` / `message.failed`
events, in the transaction that changes the row.

`record_batch` runs on the SqlRunner's connection (Core, one statement per kind of outcome for
the whole batch); `fail_message` and `expire_stale` work on an ORM session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, assert_never

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import Database
from app.events import append_event, append_events, conversation_key, event_row
from app.models import Instance, Message, table_of
from app.timestamps import iso_or_none
from app.vocabulary import EventType, MessageStatus
from outbound.action_records import record_actions
from outbound.actions import is_action
from outbound.claims import UNSENT, Claimed
from outbound.outcomes import Failed, Recorded, Retry, Sent
from outbound.reach_facts import record_reachability
from outbound.row_updates import AT, failed_params, retry_params, write_failed_and_retried

M = table_of(Message)

_SENT = (
    update(M)
    .where(M.c.id == bindparam("b_id"))
    .values(
        status=MessageStatus.SENT,
        telegram_message_id=bindparam("b_tg"),
        sent_at=AT,
        last_error=None,
    )
)


def record_batch(
    conn: Connection,
    results: Sequence[tuple[Claimed, Recorded]],
    now: datetime,
    *,
    instance: int,
    gateway_number: str | None,
) -> None:
    """Write the outcomes of a batch and their events, one statement per kind of outcome."""
    actions = [(m, o) for m, o in results if is_action(m.row.kind)]
    if actions:
        record_actions(conn, actions, now, instance=instance, gateway_number=gateway_number)
        results = [(m, o) for m, o in results if not is_action(m.row.kind)]
    sent: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    retried: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    def event(type_: EventType, row: Row[Any], state: dict[str, Any]) -> None:
        if row.origin != "api":
            return  # the gateway's own registration replies are not the organisation's events
        events.append(
            event_row(
                type_,
                now=now,
                instance=instance,
                number=row.to_number,
                gateway_number=gateway_number,
                data=message_event_data(dict(row._mapping), state),
                conversation=conversation_key(instance, row.to_number, row.group_name),
            )
        )

    state: dict[str, Any]
    for message, outcome in results:
        row = message.row
        match outcome:
            case Sent(telegram_message_id=telegram_id, sent_at=sent_at):
                sent.append({"b_id": row.id, "b_tg": telegram_id, "b_at": sent_at})
                state = {
                    "status": MessageStatus.SENT,
                    "telegram_message_id": telegram_id,
                    "sent_at": sent_at,
                }
                event(EventType.MESSAGE_SENT, row, state)
            case Failed(error_code=code, detail=detail):
                params = failed_params(row.id, code, detail, now)
                failed.append(params)
                state = {
                    "status": MessageStatus.FAILED,
                    "error_code": params["b_code"],
                    "failed_at": now,
                }
                event(EventType.MESSAGE_FAILED, row, state)
            case Retry(at=at, reason=reason):
                retried.append(retry_params(row.id, at, reason))
            case _:
                assert_never(outcome)
    if sent:
        conn.execute(_SENT, sent)
    write_failed_and_retried(conn, failed, retried)
    append_events(conn, events)
    record_reachability(conn, results, now, instance=instance)


def message_event_data(row: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    """The `data` of message.sent / message.failed: the message as the API shows it."""
    m = {**row, **state}
    return {
        "id": m["id"],
        "instance": m["instance"],
        "to": m["to_number"],
        "group_name": m["group_name"],
        "kind": m["kind"],
        "status": m.get("status"),
        "error_code": m.get("error_code"),
        "telegram_message_id": m.get("telegram_message_id"),
        "client_id": m["client_id"],
        "created_at": iso_or_none(m["created_at"]),
        "sent_at": iso_or_none(m.get("sent_at")),
        "failed_at": iso_or_none(m.get("failed_at")),
    }


async def fail_message(
    session: AsyncSession, row: Message, code: str, detail: str | None, now: datetime
) -> None:
    row.status = MessageStatus.FAILED
    row.error_code = code
    row.error_detail = (detail or "")[:1000] or None
    row.failed_at = now
    # An action (edit, deletion, reaction) that expires is no message that failed to arrive.
    if row.origin == "api" and row.target_id is None:
        inst = await session.get(Instance, row.instance)
        await append_event(
            session,
            EventType.MESSAGE_FAILED,
            now=now,
            instance=row.instance,
            number=row.to_number,
            gateway_number=inst.phone if inst else None,
            conversation=conversation_key(row.instance, row.to_number, row.group_name),
            data=message_event_data(
                row.model_dump(),
                {"status": MessageStatus.FAILED, "error_code": code, "failed_at": now},
            ),
        )


async def expire_stale(database: Database, instance: int, ttl: timedelta, now: datetime) -> None:
    """Messages queued longer than message_ttl_s, or past their own `expires_at` (ttl_s), fail
    as `expired` (also while paused)."""
    cutoff = now - ttl
    unsent = (col(Message.instance) == instance, col(Message.status).in_(UNSENT))
    # Two conditions, each answered by its own index (an OR of them would read the whole queue
    # of the instance, before every claim: with a million queued, most of the worker's time).
    too_old = select(col(Message.id)).where(*unsent, col(Message.created_at) <= cutoff).limit(1)
    past_own = select(col(Message.id)).where(*unsent, col(Message.expires_at) <= now).limit(1)
    async with database.read() as session:
        if await session.scalar(too_old) is None and await session.scalar(past_own) is None:
            return
    stale_query = (
        select(Message)
        .where(*unsent, or_(col(Message.created_at) <= cutoff, col(Message.expires_at) <= now))
        .limit(500)
    )
    async with database.write() as session:
        for row in await session.scalars(stale_query):
            own = row.expires_at is not None and row.expires_at <= now and row.created_at > cutoff
            detail = (
                f"not sent before its expires_at ({iso_or_none(row.expires_at)})"
                if own
                else f"not sent within message_ttl_s ({int(ttl.total_seconds())} s)"
            )
            await fail_message(session, row, "expired", detail, now)
