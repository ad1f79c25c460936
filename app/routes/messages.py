"""Native API (/api/v1): messages, recipients, events."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response

from app.client_limits import require_instance
from app.errors import ApiError
from app.events import list_events, render_event
from app.models import Message, Recipient
from app.recipients import find_recipients, recipient_data, unregister_number
from app.retention.watermark import missed, pruned_through
from app.routes import messages_schemas as schemas
from app.routes.apidoc import Answer, Doc
from app.routes.common import JSON, parse_json_object, read_body, services
from app.routes.messages_docs import CREATE_MESSAGE
from app.routes.messages_docs import TAG_MESSAGES as TAG_MESSAGES  # re-exported (docs.py)
from app.routes.multipart import read_multipart
from app.routes.queries import parse_query
from app.routes.send_bodies import parse_send
from app.routes.surface import endpoint
from app.routes.surfaces import (
    NATIVE,
    client_id,
    client_instances,
    client_quota,
    credentials,
    require_client_instance,
)
from app.routes.whatsmate import max_body_bytes
from app.services import Services
from app.timestamps import iso_or_none
from app.vocabulary import MessageStatus, Scope, values
from outbound.callback_url import callback_url, fingerprint_with
from outbound.details import read_details
from outbound.expiry import expiry_of
from outbound.fetch import MediaFetcher
from outbound.send_request import request_fingerprint
from outbound.validation import is_message_id, normalize_number

MESSAGE_STATUSES = values(MessageStatus)
TAG_RECIPIENTS = "Recipients"
TAG_EVENTS = "Events"
V = TypeVar("V", schemas.LocationView, schemas.ContactView)


def render_message(message: Message | Mapping[str, Any]) -> schemas.Message:
    m = message.model_dump() if isinstance(message, Message) else message
    details = read_details(m.get("details"))
    return schemas.Message(
        id=m["id"],
        instance=m["instance"],
        to=m["to_number"],
        group_name=m["group_name"],
        kind=m["kind"],
        status=m["status"],
        error_code=m["error_code"],
        error_detail=m["error_detail"],
        telegram_message_id=m["telegram_message_id"],
        attempts=m["attempts"],
        filename=m["filename"],
        size=m["media_size"],
        sha256=m["media_sha256"],
        reply_to=m["reply_to"],
        location=_view(schemas.LocationView, details.get("location")),
        contact=_view(schemas.ContactView, details.get("contact")),
        silent=bool(m.get("silent")),
        link_preview=m.get("link_preview") is not False,
        created_at=iso_or_none(m["created_at"]),
        sent_at=iso_or_none(m["sent_at"]),
        read_at=iso_or_none(m["read_at"]),
        failed_at=iso_or_none(m["failed_at"]),
        edited_at=iso_or_none(m.get("edited_at")),
        deleted_at=iso_or_none(m.get("deleted_at")),
        reaction=m.get("reaction"),
        expires_at=iso_or_none(m.get("expires_at")),
        callback_url=m.get("callback_url"),
    )


def _view(model: type[V], found: object) -> V | None:
    return model.model_validate(found) if isinstance(found, dict) else None


async def create_message(request: Request) -> Response:
    svc = services(request)
    creds = credentials(request)
    client = client_id(request)
    limit = max_body_bytes(svc.settings.limits.largest_native_media_bytes)
    content_type = request.headers.get("content-type", "")
    upload: tuple[bytes, str | None] | None = None
    if content_type.startswith("multipart/form-data"):
        data, upload, fingerprint = await read_multipart(request, limit)
    else:
        body = await read_body(request, limit)
        fingerprint = request_fingerprint(request.url.path, body)
        data = parse_json_object(body)
    fingerprint = fingerprint_with(fingerprint, request.headers)
    replayed = await svc.enqueuer.replay(client, creds.idempotency_key, fingerprint)
    if replayed is not None:
        return JSON(replayed[1], status_code=replayed[0])
    allow_private = svc.settings.webhook_delivery.allow_private_targets
    callback = callback_url(data, request.headers, allow_private=allow_private)
    limits = svc.settings.limits
    if upload is not None or data.get("media") is not None:
        # Media are decoded and checked (a picture fully): not on the event loop.
        send_body = await asyncio.to_thread(parse_send, schemas.SendMessage, data, limits, upload)
    else:
        send_body = parse_send(schemas.SendMessage, data, limits, upload)
    svc.enqueuer.check_instance(send_body.instance)
    require_client_instance(request, send_body.instance)
    if send_body.media_url is not None:
        # Media by URL: fetched and checked before anything is accepted (outbound/fetch.py).
        await send_body.fetch_media(media_fetcher(svc))
    expires_at = expiry_of(
        send_body.ttl_s, send_body.expires_at, svc.clock(), svc.settings.sending.message_ttl_s
    )
    send_request = dataclasses.replace(
        send_body.request(), expires_at=expires_at, callback_url=callback
    )
    status, answer = await svc.enqueuer.enqueue(
        client,
        send_request,
        idempotency_key=creds.idempotency_key,
        fingerprint=fingerprint,
        # A dict, not the model: the answer is also stored for a repeated Idempotency-Key.
        render=lambda m: (202, render_message(m).model_dump()),
        client_quota=client_quota(request),
    )
    svc.metrics.accepted.labels(send_request.kind).inc()
    return JSON(answer, status_code=status)


def media_fetcher(svc: Services) -> MediaFetcher:
    settings = svc.settings
    return MediaFetcher(
        settings.media_fetch, settings.limits, svc.resolve_host, network=svc.network
    )


async def get_message(request: Request) -> Response:
    svc = services(request)
    async with svc.database.read() as session:
        message_id = request.path_params["id"]
        row = await session.get(Message, message_id) if is_message_id(message_id) else None
    # An edit, deletion or reaction is not a message (GET /api/v1/messages/{id}/actions).
    if row is None or row.client_id != client_id(request) or row.target_id is not None:
        raise ApiError("not_found", f"No message with id {request.path_params['id']!r}")
    require_client_instance(request, row.instance)
    return JSON(render_message(row))


async def message_page(
    session: AsyncSession,
    params: Mapping[str, str],
    client_id: str | None,
    *,
    newest_first: bool = False,
    instances: Collection[int] | None = None,
    allowed: Collection[int] | None = None,
) -> schemas.MessageList:
    """One page of messages (`status`, `instance`, `after`, `limit` from `params`):
    `{"data", "next"}`.

    `client_id` None: every client's (the admin view). `after` is the last id of the previous
    page; pages go oldest first, or newest first when `newest_first`. `instances`: the
    configured ones, when an `instance` that is not one is unknown_instance (404).
    `allowed`: the instances the client's key may use (None: all): the page holds only
    their messages, and asking for another instance is instance_forbidden (403).
    """
    asked = parse_query(schemas.MessageQuery, params)
    limit, status, after = asked.limit, asked.status, asked.after
    if asked.instance and instances is not None and asked.instance not in instances:
        raise ApiError("unknown_instance", f"Invalid gateway instance number {asked.instance}")
    # Edits, deletions and reactions are rows of the queue too, listed with their message only.
    query = select(Message).where(col(Message.target_id).is_(None))
    if client_id is not None:
        query = query.where(col(Message.client_id) == client_id)
    if status:
        query = query.where(col(Message.status) == status)
    if asked.instance:
        require_instance(allowed, asked.instance)
        query = query.where(col(Message.instance) == asked.instance)
    elif allowed is not None:
        query = query.where(col(Message.instance).in_(sorted(allowed)))
    if after:
        anchor = await session.get(Message, after) if is_message_id(after) else None
        if anchor is None or (client_id is not None and anchor.client_id != client_id):
            raise ApiError("invalid_field", f"'after' is not a message id: {after!r}")
        if newest_first:
            query = query.where(
                or_(
                    col(Message.created_at) < anchor.created_at,
                    and_(
                        col(Message.created_at) == anchor.created_at,
                        col(Message.id) < anchor.id,
                    ),
                )
            )
        else:
            query = query.where(
                or_(
                    col(Message.created_at) > anchor.created_at,
                    and_(
                        col(Message.created_at) == anchor.created_at,
                        col(Message.id) > anchor.id,
                    ),
                )
            )
    if newest_first:
        query = query.order_by(col(Message.created_at).desc(), col(Message.id).desc())
    else:
        query = query.order_by(col(Message.created_at), col(Message.id))
    rows = list(await session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return schemas.MessageList(
        data=[render_message(r) for r in rows], next=rows[-1].id if more and rows else None
    )


async def list_messages(request: Request) -> Response:
    svc = services(request)
    async with svc.database.read() as session:
        page = await message_page(
            session,
            request.query_params,
            client_id(request),
            instances=[i.number for i in svc.settings.instances],
            allowed=client_instances(request),
        )
    return JSON(page)


async def recipient_page(
    session: AsyncSession, params: Mapping[str, str], allowed: Collection[int] | None = None
) -> schemas.RecipientList:
    """Recipients filtered by `status` (default registered), `instance`, `limit`: `{"data"}`;
    only those of the `allowed` instances (None: all; another `instance` is 403)."""
    asked = parse_query(schemas.RecipientQuery, params)
    if asked.instance:
        require_instance(allowed, asked.instance)
    rows = await find_recipients(
        session, asked.status, instance=asked.instance, limit=asked.limit, instances=allowed
    )
    return schemas.RecipientList(data=[recipient_view(r) for r in rows])


def recipient_view(recipient: Recipient) -> schemas.Recipient:
    """The recipient as the API shows it: the keys of its events' `data`."""
    return schemas.Recipient(**recipient_data(recipient))


async def list_recipients(request: Request) -> Response:
    svc = services(request)
    async with svc.database.read() as session:
        page = await recipient_page(session, request.query_params, client_instances(request))
    return JSON(page)


async def delete_recipient(request: Request) -> Response:
    svc = services(request)
    number = normalize_number(request.path_params["number"])
    instance = parse_query(schemas.RemovalQuery, request.query_params).instance
    allowed = client_instances(request)
    if instance:
        require_instance(allowed, instance)
    now = svc.clock()
    async with svc.database.write() as session:
        found = await unregister_number(
            session, number, now, "removed_by_api", instance, instances=allowed
        )
        if not found:
            raise ApiError("not_found", f"{number} is not a registered recipient")
    return JSON(schemas.RecipientRemoved(number=number, status="unregistered"))


async def events(request: Request) -> Response:
    svc = services(request)
    asked = parse_query(schemas.EventQuery, request.query_params)
    async with svc.database.read() as session:
        rows = await list_events(
            session, after=asked.after, limit=asked.limit, instances=client_instances(request)
        )
        pruned = missed(asked.after, await pruned_through(session))  # after the rows: see it
    # As the webhooks get them: an Event writes the keys it was given, so a type's absent keys
    # stay absent (no "number": null on message.sent).
    data = [schemas.Event.model_validate(render_event(r, svc.media_links.url)) for r in rows]
    next_after = data[-1].seq if data else asked.after
    return JSON(schemas.EventList(data=data, next_after=next_after, pruned_through=pruned))


routes = [
    endpoint(
        NATIVE,
        "/api/v1/messages",
        create_message,
        methods=["POST"],
        sends=True,
        doc=CREATE_MESSAGE,
    ),
    endpoint(
        NATIVE,
        "/api/v1/messages",
        list_messages,
        scope=Scope.READ,
        doc=Doc(
            "listMessages",
            TAG_MESSAGES,
            "List messages",
            "This client's messages, oldest first, with cursor pagination; `status=queued&"
            "instance=N` lists what still waits to go on an instance.",
            {200: Answer("A page of messages.", schemas.MessageList)},
            errors=(400, 401, 404, 474),
            error_texts={
                400: "Bad status, instance, after or limit.",
                404: "unknown_instance: no such gateway instance.",
            },
            query=schemas.MessageQuery,
        ),
    ),
    endpoint(
        NATIVE,
        "/api/v1/messages/{id:str}",
        get_message,
        scope=Scope.READ,
        doc=Doc(
            "getMessage",
            TAG_MESSAGES,
            "Get a message",
            "One of this client's messages, with its delivery state.",
            {200: Answer("The message.", schemas.Message)},
            errors=(401, 404, 474),
            error_texts={404: "No such message for this client."},
            path=schemas.MessagePath,
        ),
    ),
    endpoint(
        NATIVE,
        "/api/v1/recipients",
        list_recipients,
        scope=Scope.RECIPIENTS,
        doc=Doc(
            "listRecipients",
            TAG_RECIPIENTS,
            "List recipients",
            "The people who registered with the gateway (by saying Hi), by status.",
            {200: Answer("Recipients.", schemas.RecipientList)},
            errors=(400, 401, 474),
            error_texts={400: "Bad status, instance or limit."},
            query=schemas.RecipientQuery,
        ),
    ),
    endpoint(
        NATIVE,
        "/api/v1/recipients/{number:str}",
        delete_recipient,
        methods=["DELETE"],
        scope=Scope.RECIPIENTS,
        doc=Doc(
            "deleteRecipient",
            TAG_RECIPIENTS,
            "Unregister a recipient",
            "Mark the number unregistered (as if it opted out); nothing more is sent to it.",
            {200: Answer("Unregistered.", schemas.RecipientRemoved)},
            errors=(400, 401, 404, 471, 474),
            error_texts={404: "The number is not a registered recipient."},
            path=schemas.RecipientPath,
            query=schemas.RemovalQuery,
        ),
    ),
    endpoint(
        NATIVE,
        "/api/v1/events",
        events,
        scope=Scope.EVENTS,
        doc=Doc(
            "listEvents",
            TAG_EVENTS,
            "Read the event log",
            "Events in seq order, for backfill after an outage: pass the last seq you have as "
            "'after'. If retention deleted events after that seq, `pruned_through` says so.",
            {200: Answer("Events.", schemas.EventList)},
            errors=(400, 401, 474),
            error_texts={400: "Bad after or limit."},
            query=schemas.EventQuery,
        ),
    ),
]
