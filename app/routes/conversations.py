"""Native API (/api/v1): conversation history. The people an instance talks with, each with
their latest message and unread count; one conversation, newest first, both directions; and
a backfill that fetches from Telegram what the gateway never stored (app/history/)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from app.account.telegram_calls import telegram_call_error
from app.cluster.forward import HeldElsewhere, held_elsewhere
from app.errors import ApiError
from app.history.overview import latest_messages, unread_counts
from app.history.reads import Person, chat_page, conversation_page, find_person
from app.routes import conversations_docs as ops
from app.routes import conversations_schemas as shown
from app.routes.admin import _sandbox
from app.routes.bodies import parse_body
from app.routes.common import JSON, parse_json_object, read_body, services
from app.routes.messages_schemas import LocationView
from app.routes.queries import parse_query
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN, NATIVE, client_instances, require_named_instance
from app.services import Services
from app.telegram.port import TelegramError
from app.timestamps import iso, iso_or_none
from app.vocabulary import Scope
from outbound.validation import normalize_number

MediaLink = Callable[[dict[str, Any]], str]


def _cursor(at: datetime, *keys: object) -> str:
    """An opaque page cursor: a row's `at` and what orders rows of the same moment."""
    text = "|".join([iso(at), *map(str, keys)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _read_cursor(raw: str, name: str, keys: int) -> tuple[datetime, list[str]]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        when, *found = text.split("|")
        at = datetime.fromisoformat(when)
        if at.tzinfo is None or len(found) != keys or not all(found):
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            "invalid_field", f"'{name}' is not a cursor this API gave: pass 'next' back as is"
        ) from None
    return at, found


def _chat_cursor(raw: str) -> tuple[datetime, int, str]:
    at, (telegram_id, item_id) = _read_cursor(raw, "before", 2)
    if not (telegram_id.isascii() and telegram_id.isdigit()) or int(telegram_id) >= 2**63:
        raise ApiError("invalid_field", "'before' is not a cursor this API gave")
    return at, int(telegram_id), item_id


def _instances(request: Request, asked: int) -> list[int] | None:
    """The instances to read: the asked one (checked), else those the key may use."""
    allowed = client_instances(request)
    if asked:
        require_named_instance(request, asked)
        return [asked]
    return None if allowed is None else sorted(allowed)


def chat_item(row: Any, media_link: MediaLink) -> shown.ChatMessage:
    media_kind = row.kind not in ("text", "contact", "location", "other")
    outgoing = row.direction == "out"
    location = None
    if row.kind == "location" and row.details:
        found = orjson.loads(row.details)
        # A send keeps {"location": {...}}; a received one the point itself.
        point = found.get("location", found) if outgoing else found
        location = LocationView.model_validate(
            {key: point.get(key) for key in ("latitude", "longitude", "title", "address")}
        )
    if outgoing and not row.backfilled:
        text, caption = row.text, row.caption
    elif media_kind:  # the person's and backfilled messages keep a caption in `text`
        text, caption = None, row.text
    else:
        text, caption = row.text, None
    return shown.ChatMessage(
        id=row.id,
        direction=row.direction,
        origin=row.origin,
        kind=row.kind,
        text=text,
        caption=caption,
        filename=row.filename,
        mime_type=row.mime_type,
        size=row.size,
        media_url=media_link({"id": row.media_id}) if row.media_id else None,
        location=location,
        status=row.status,
        telegram_message_id=row.telegram_message_id,
        reply_to_telegram_id=row.reply_to_telegram_id,
        reply_to=row.reply_to,
        at=iso(row.at),
        read_at=iso_or_none(row.read_at),
        edited_at=iso_or_none(row.edited_at),
        deleted_at=iso_or_none(row.deleted_at),
        backfilled=bool(row.backfilled),
    )


async def list_conversations(request: Request) -> Response:
    svc = services(request)
    asked = parse_query(shown.ConversationQuery, request.query_params)
    after = None
    if asked.after:
        at, (key,) = _read_cursor(asked.after, "after", 1)
        if not (key.isascii() and key.isdigit()) or int(key) >= 2**31:  # recipient ids
            raise ApiError("invalid_field", "'after' is not a cursor this API gave")
        after = (at, int(key))
    instances = _instances(request, asked.instance)
    statuses = None if asked.status == "all" else [asked.status]
    data: list[shown.Conversation] = []
    async with svc.database.read() as session:
        found = await conversation_page(
            session, statuses=statuses, instances=instances, after=after, limit=asked.limit + 1
        )
        people = [person for person, _ in found[: asked.limit]]
        # One query each for the whole page (not two per person).
        latest = await latest_messages(session, people)
        unread = await unread_counts(session, people)
        for person, last_at in found[: asked.limit]:
            message = latest.get(person.id)
            data.append(
                shown.Conversation(
                    instance=person.instance,
                    number=person.number,
                    user_id=person.user_id,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    username=person.username,
                    status=person.status,
                    last_activity_at=iso(last_at),
                    last_message=chat_item(message, svc.media_links.url) if message else None,
                    unread=unread.get(person.id, 0),
                )
            )
    more = len(found) > asked.limit
    last = found[asked.limit - 1] if more else None
    return JSON(
        shown.ConversationList(
            data=data, next=_cursor(last[1], last[0].id) if last is not None else None
        )
    )


async def _person(request: Request, svc: Services, instance: int) -> Person:
    number = normalize_number(request.path_params["number"])
    _instances(request, instance)
    async with svc.database.read() as session:
        person = await find_person(session, instance, number)
    if person is None:
        raise ApiError(
            "not_found",
            f"No conversation with {number} on instance {instance}: they have never written to it",
        )
    return person


async def conversation_messages(request: Request) -> Response:
    svc = services(request)
    asked = parse_query(shown.HistoryQuery, request.query_params)
    before = _chat_cursor(asked.before) if asked.before else None
    person = await _person(request, svc, asked.instance)
    async with svc.database.read() as session:
        rows = await chat_page(session, person, before, asked.limit + 1)
    page = rows[: asked.limit]
    last = page[-1] if len(rows) > asked.limit else None
    return JSON(
        shown.ChatPage(
            instance=person.instance,
            number=person.number,
            data=[chat_item(row, svc.media_links.url) for row in page],
            next=_cursor(last.at, last.telegram_message_id or 0, last.id) if last else None,
        )
    )


async def backfill(request: Request) -> Response:
    svc = services(request)
    asked = parse_query(shown.BackfillQuery, request.query_params)
    person = await _person(request, svc, asked.instance)
    if held_elsewhere(request, person.instance):  # only the holder talks to Telegram
        raise HeldElsewhere(person.instance, admin=False)  # passed to it, or 409
    backend = svc.telegram.backends.get(person.instance)
    if backend is None:
        raise ApiError("not_logged_in", f"instance {person.instance} has no Telegram backend")
    try:
        done = await svc.backfills.backfill(
            svc.database,
            backend,
            person,
            before_id=asked.before_id,
            limit=asked.limit,
            clock=svc.clock,
        )
    except TelegramError as exc:
        raise telegram_call_error(person.instance, exc, "Telegram did not answer") from exc
    return JSON(
        shown.BackfillAnswer(
            instance=person.instance,
            number=person.number,
            scanned=done.scanned,
            stored=done.stored,
            known=done.known,
            pages=done.pages,
            next_before_id=done.next_before_id,
            flood_wait_s=done.flood_wait_s,
        )
    )


async def sandbox_unseen(request: Request) -> Response:
    sandbox = _sandbox(request)
    body = parse_json_object(await read_body(request, 64 * 1024))
    data = parse_body(shown.UnseenBody, body)
    number = normalize_number(data.number)
    message_id = await sandbox.add_unseen(number, data.text, outgoing=data.outgoing)
    return JSON(
        shown.UnseenMessage(number=number, telegram_message_id=message_id, outgoing=data.outgoing),
        status_code=201,
    )


routes = [
    endpoint(NATIVE, "/api/v1/conversations", list_conversations, scope=Scope.READ, doc=ops.LIST),
    endpoint(
        NATIVE,
        "/api/v1/conversations/{number:str}/messages",
        conversation_messages,
        scope=Scope.READ,
        doc=ops.MESSAGES,
    ),
    endpoint(
        NATIVE,
        "/api/v1/conversations/{number:str}/backfill",
        backfill,
        methods=["POST"],
        scope=Scope.READ,
        doc=ops.BACKFILL,
    ),
    endpoint(
        ADMIN,
        "/admin/sandbox/{n:str}/history",
        sandbox_unseen,
        methods=["POST"],
        doc=ops.SANDBOX_UNSEEN,
    ),
]
