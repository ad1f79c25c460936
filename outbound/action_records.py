"""Making an action (outbound/actions.py) and writing what became of it.

`perform` is the worker's call to the backend for an action row (edit, delete or reaction);
`record_actions` writes a batch's outcomes on the SqlRunner's connection, like `record_batch`
does for messages: the action row's status, and for a done action, in the same transaction,
what it did to the message acted on (`edited_at` and the new words, `deleted_at`, `reaction`)
and its event (`message.edited`, `message.deleted`, `message.reaction`, `direction:
"outbound"`).

A failed action writes no event: `message.failed` says that a message never reached its
recipient, which is not what happened; the action's status and `error_code` show it (GET
/api/v1/messages/{id}/actions).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, assert_never

from sqlalchemy import Row, bindparam, update
from sqlalchemy.engine import Connection

from app.events import append_events, conversation_key, event_row
from app.models import Message, table_of
from app.telegram.port import Peer, TelegramBackend
from app.timestamps import iso
from app.vocabulary import EventType
from outbound.actions import ACTION_DONE
from outbound.claims import Claimed
from outbound.outcomes import Failed, Recorded, Retry, Sent
from outbound.row_updates import AT, failed_params, retry_params, write_failed_and_retried

M = table_of(Message)

_DONE = (
    update(M)
    .where(M.c.id == bindparam("b_id"))
    .values(status=ACTION_DONE, sent_at=AT, last_error=None)
)


async def perform(backend: TelegramBackend, row: Row[Any], peer: Peer, now: datetime) -> Sent:
    """Make the action of `row` on its target in the chat `peer`; raises the port's errors."""
    target = int(row.target_telegram_id)
    if row.kind == "edit":
        is_caption = row.caption is not None
        words = row.caption if is_caption else row.text
        edited_at = await backend.edit(peer, target, words or "", caption=is_caption)
        return Sent(None, edited_at)
    if row.kind == "delete":
        await backend.delete(peer, [target])
        return Sent(None, now)
    if row.kind == "reaction":
        await backend.react(peer, target, row.text)
        return Sent(None, now)
    raise ValueError(f"not an action: {row.kind}")


def record_actions(
    conn: Connection,
    results: Sequence[tuple[Claimed, Recorded]],
    now: datetime,
    *,
    instance: int,
    gateway_number: str | None,
) -> None:
    """Write the outcomes of a batch's actions, their targets' changes and their events."""
    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    retried: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for action, outcome in results:
        row = action.row
        match outcome:
            case Sent(sent_at=at):
                done.append({"b_id": row.id, "b_at": at})
                conn.execute(_target_change(row, at))
                type_, data = action_event(row, at, action.group_id)
                events.append(
                    event_row(
                        type_,
                        now=now,
                        instance=instance,
                        number=row.to_number,
                        gateway_number=gateway_number,
                        data=data,
                        conversation=conversation_key(instance, row.to_number, row.group_name),
                    )
                )
            case Failed(error_code=code, detail=detail):
                failed.append(failed_params(row.id, code, detail, now))
            case Retry(at=at, reason=reason):
                retried.append(retry_params(row.id, at, reason))
            case _:
                assert_never(outcome)
    if done:
        conn.execute(_DONE, done)
    write_failed_and_retried(conn, failed, retried)
    append_events(conn, events)


def _target_change(row: Row[Any], at: datetime) -> Any:
    """What the action did to the message acted on (nothing is written on an inbound one:
    no row of `message` has its id)."""
    change: dict[str, Any]
    if row.kind == "edit":
        change = {"edited_at": at}
        if row.caption is not None:
            change["caption"] = row.caption or None
        else:
            change["text"] = row.text
    elif row.kind == "delete":
        change = {"deleted_at": at}
    else:
        change = {"reaction": row.text}
    return update(M).where(M.c.id == row.target_id, M.c.target_id.is_(None)).values(**change)


def action_event(
    row: Row[Any], at: datetime, group_id: int | None
) -> tuple[EventType, dict[str, Any]]:
    """The event of a done action and its `data` (docs/events.md)."""
    group = {"id": group_id, "title": row.group_name} if row.group_name is not None else None
    common = {
        "id": row.target_id,
        "telegram_message_id": row.target_telegram_id,
        "direction": "outbound",
    }
    if row.kind == "edit":
        words = row.caption if row.caption is not None else row.text
        return EventType.MESSAGE_EDITED, {
            **common,
            "text": words,
            "edited_at": iso(at),
            "sender": None,
            "group": group,
        }
    if row.kind == "delete":
        return EventType.MESSAGE_DELETED, {**common, "deleted_at": iso(at), "group": group}
    return EventType.MESSAGE_REACTION, {
        **common,
        "emojis": [row.text] if row.text else [],
        "sender": None,
        "reacted_at": iso(at),
        "group": group,
    }
