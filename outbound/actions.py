"""Edits, deletions and reactions through the API: accepted as rows of the send queue.

Why rows of the `message` table (kind `edit` | `delete` | `reaction`, `target_id` naming the
message acted on) rather than a table of their own: an action needs everything the send queue
already has — the worker's claim and its lease, the account-wide pace, recovery of a claim whose
process died, FloodWait pauses, the retry schedule and the TTL. A second table would need a
second claimer and a second recovery. An action row is told apart by its `target_id` (never null
on an action, always null on a message proper): GET /api/v1/messages leaves them out, they are
not counted against the daily quota (no message reaches anyone), and their outcome is written by
`outbound/action_records.py` as `message.edited` / `message.deleted` / `message.reaction`
instead of `message.sent`.

Every action is safe to make twice (the same words again: MESSAGE_NOT_MODIFIED, a deleted
message deleted again, the same reaction set again), so the worker's retry after a crash, like a
send's with its random_id, has the effect of one.

Everything an action changes when accepted commits in one transaction with its Idempotency-Key
record, before the 202.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import and_, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import Database
from app.errors import ApiError
from app.models import IdempotencyRecord, InboundMessage, Message, Recipient
from app.queueing import Wakeup, message_row
from app.settings import LimitsSettings
from app.telegram.port import ALL_MEDIA_KINDS
from app.vocabulary import ActionStatus, MessageStatus, values
from outbound.send_request import Answer, check_idempotency_key
from outbound.validation import check_caption, check_text, is_message_id, reject_nul

ActionKind = Literal["edit", "delete", "reaction"]
ACTION_KINDS: tuple[ActionKind, ...] = ("edit", "delete", "reaction")
# An action row's status: queued and sending as a message's, then done or failed.
ACTION_DONE = ActionStatus.DONE
ACTION_STATUSES = values(ActionStatus)
# Telegram lets a user account edit its messages for 48 hours after sending them.
EDIT_WINDOW = timedelta(hours=48)
# A message the person has: it can be edited, deleted and reacted to.
DELIVERED = (MessageStatus.SENT, MessageStatus.READ)
# Kinds whose words can be edited: a text's text, a medium's caption (a sticker has none;
# locations and contact cards have no words at all).
CAPTIONED_KINDS = tuple(k for k in ALL_MEDIA_KINDS if k != "sticker")
EMOJI_MAX_CHARS = 16


def is_action(kind: str) -> bool:
    return kind in ACTION_KINDS


@dataclass(frozen=True)
class ActionRequest:
    """One action asked for: `text` the new words of an edit, `emoji` a reaction (None clears
    it)."""

    kind: ActionKind
    target_id: str
    text: str | None = None
    emoji: str | None = None


def check_emoji(value: object) -> str | None:
    """A reaction: one emoji as Telegram lists them (e.g. "👍"), or null to take it back."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError("invalid_field", "'emoji' must be a string (one emoji) or null")
    reject_nul(value, "emoji")
    if not value.strip() or any(ch.isspace() for ch in value):
        raise ApiError("invalid_field", "'emoji' must be one emoji, such as \"👍\", without spaces")
    if len(value) > EMOJI_MAX_CHARS:
        raise ApiError("invalid_field", f"'emoji' is longer than {EMOJI_MAX_CHARS} characters")
    return value


def not_found(target_id: str) -> ApiError:
    return ApiError("not_found", f"No message with id {target_id!r}")


def check_delivered(target: Message, doing: str) -> None:
    """The message must have reached the person, and still be there."""
    if target.status in (MessageStatus.QUEUED, MessageStatus.SENDING):
        raise ApiError(
            "message_not_sent",
            f"Message {target.id} is still {target.status}: it can be {doing} once it is sent",
        )
    if target.status == MessageStatus.FAILED:
        raise ApiError(
            "message_not_sent",
            f"Message {target.id} failed ({target.error_code}) and never reached anyone: "
            f"there is nothing to be {doing}",
        )
    if target.deleted_at is not None:
        raise ApiError("message_deleted", f"Message {target.id} was deleted")


def edited_words(
    target: Message, text: object, limits: LimitsSettings
) -> tuple[str | None, str | None]:
    """(new text, new caption) of an edit of `target`, one of them set; refuses what Telegram
    would refuse."""
    if target.kind == "text":
        return check_text(text, limits, field="text"), None
    if target.kind not in CAPTIONED_KINDS:
        raise ApiError(
            "not_editable",
            f"Message {target.id} is a {target.kind}: only a text's text and a medium's "
            "caption can be edited",
        )
    if text is None:
        raise ApiError("missing_field", "Missing field 'text' (the new caption)")
    if not isinstance(text, str):
        raise ApiError("invalid_field", "'text' must be a string")
    # An empty caption takes the caption away; stored as "" to tell it from a text edit.
    return None, check_caption(text, limits) or ""


def check_edit_window(target: Message, now: datetime) -> None:
    sent_at = target.sent_at
    if sent_at is not None and now - sent_at >= EDIT_WINDOW:
        hours = int((now - sent_at).total_seconds() // 3600)
        raise ApiError(
            "edit_window_expired",
            f"Message {target.id} was sent {hours} h ago; Telegram lets an account edit its "
            f"messages for {int(EDIT_WINDOW.total_seconds() // 3600)} h after sending them",
        )


Render = Callable[[dict[str, Any]], dict[str, Any]]


class ActionDesk:
    """Accepts actions: checks the target, writes the queue row (and the Idempotency-Key's
    answer) in one transaction, and wakes the instance's worker."""

    def __init__(
        self,
        database: Database,
        limits: LimitsSettings,
        wakeup: Wakeup,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = database
        self._limits = limits
        self._wakeup = wakeup
        self._clock = clock

    async def accept(
        self,
        client_id: str,
        request: ActionRequest,
        *,
        idempotency_key: str | None,
        fingerprint: str,
        render: Render,
    ) -> Answer:
        """202 and the action; raises ApiError when the target cannot take it."""
        if idempotency_key:
            check_idempotency_key(idempotency_key)
        now = self._clock()
        try:
            async with self._db.write() as session:
                row = await self._row(session, client_id, request, now)
                answer = render(row)
                session.add(Message(**row))
                if idempotency_key:
                    await self._remember(session, client_id, idempotency_key, fingerprint, answer)
        except IntegrityError as exc:
            raise ApiError(
                "conflict",
                "Another request with this Idempotency-Key was being accepted at the same "
                "moment; send it again to get that request's answer",
            ) from exc
        self._wakeup.notify(f"send:{row['instance']}")
        return 202, answer

    async def _remember(
        self,
        session: AsyncSession,
        client_id: str,
        key: str,
        fingerprint: str,
        answer: dict[str, Any],
    ) -> None:
        """Keep the answer for a repeat of the key (as sends do, outbound/accept.py)."""
        # A record still there is older than the window: the caller replayed live ones.
        await session.execute(
            delete(IdempotencyRecord).where(
                and_(
                    col(IdempotencyRecord.client_id) == client_id,
                    col(IdempotencyRecord.key) == key,
                )
            )
        )
        session.add(
            IdempotencyRecord(
                client_id=client_id,
                key=key,
                request_hash=fingerprint,
                status_code=202,
                response_body=orjson.dumps(answer).decode(),
                created_at=self._clock(),
            )
        )

    async def _row(
        self, session: AsyncSession, client_id: str, request: ActionRequest, now: datetime
    ) -> dict[str, Any]:
        target_id = request.target_id
        ours = await session.get(Message, target_id) if is_message_id(target_id) else None
        if ours is not None and (ours.client_id != client_id or ours.target_id is not None):
            ours = None  # another client's message, or an action: not this client's message
        if ours is None:
            if request.kind == "reaction" and is_message_id(target_id):
                inbound = await session.get(InboundMessage, target_id)
                if inbound is not None:
                    return await self._inbound_reaction(session, client_id, inbound, request, now)
            raise not_found(target_id)
        text = caption = None
        if request.kind == "edit":
            check_delivered(ours, "edited")
            text, caption = edited_words(ours, request.text, self._limits)
            check_edit_window(ours, now)
        else:
            check_delivered(ours, "deleted" if request.kind == "delete" else "reacted to")
            text = request.emoji
        if await self._deletion_pending(session, target_id):
            raise ApiError("message_deleted", f"Message {target_id} is being deleted")
        user_id, access_hash = ours.recipient_user_id, ours.recipient_access_hash
        if user_id is None and ours.group_name is None and ours.to_number is not None:
            user_id, access_hash = await self._person(session, ours.instance, ours.to_number)
        row = message_row(
            instance=ours.instance,
            kind=request.kind,
            now=now,
            client_id=client_id,
            to_number=ours.to_number,
            recipient_user_id=user_id,
            recipient_access_hash=access_hash,
            group_name=ours.group_name,
            group_admin=ours.group_admin,
            text=text,
            caption=caption,
        )
        row.update(target_id=target_id, target_telegram_id=ours.telegram_message_id)
        return row

    async def _inbound_reaction(
        self,
        session: AsyncSession,
        client_id: str,
        inbound: InboundMessage,
        request: ActionRequest,
        now: datetime,
    ) -> dict[str, Any]:
        """A reaction on a message a person sent to the account: in their private chat, or in
        the group it came from. A group is found again by its title alone (as a legacy group
        send names it): should the account be in several groups of that title, the action
        fails as `group_not_found`."""
        access_hash = await session.scalar(
            select(col(Recipient.access_hash)).where(
                and_(
                    col(Recipient.instance) == inbound.instance,
                    col(Recipient.user_id) == inbound.sender_user_id,
                )
            )
        )
        in_group = inbound.group_id is not None
        row = message_row(
            instance=inbound.instance,
            kind="reaction",
            now=now,
            client_id=client_id,
            to_number=None if in_group else inbound.number,
            recipient_user_id=None if in_group else inbound.sender_user_id,
            recipient_access_hash=None if in_group else access_hash,
            group_name=inbound.group_title if in_group else None,
            text=request.emoji,
        )
        row.update(target_id=inbound.id, target_telegram_id=inbound.telegram_message_id)
        return row

    async def _person(
        self, session: AsyncSession, instance: int, number: str
    ) -> tuple[int | None, int | None]:
        """The person a message went to, registered or not any more: an action on a message
        already sent still reaches its chat."""
        found = (
            await session.execute(
                select(col(Recipient.user_id), col(Recipient.access_hash))
                .where(and_(col(Recipient.instance) == instance, col(Recipient.number) == number))
                .order_by(col(Recipient.status) != "registered")
                .limit(1)
            )
        ).first()
        return (found[0], found[1]) if found is not None else (None, None)

    async def _deletion_pending(self, session: AsyncSession, target_id: str) -> bool:
        found = await session.scalar(
            select(col(Message.id))
            .where(
                and_(
                    col(Message.target_id) == target_id,
                    col(Message.kind) == "delete",
                    col(Message.status) != MessageStatus.FAILED,
                )
            )
            .limit(1)
        )
        return found is not None
