"""Admin API for webhooks: endpoints, their deliveries, replay and test events."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response

from app.alerts.record import ALERTS_SOURCE
from app.errors import ApiError
from app.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from app.net.targets import TargetError, check_target
from app.routes import webhooks_docs as ops
from app.routes import webhooks_schemas as shown
from app.routes.admin import read_json_object
from app.routes.bodies import parse_body, parse_query
from app.routes.common import JSON, ascii_int, services
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN
from app.sealing import SealError
from app.services import Services
from app.timestamps import iso_or_none
from inbound.webhooks.alerting import endpoint_disabled, endpoint_enabled
from inbound.webhooks.delivery import TOPIC
from inbound.webhooks.endpoints import (
    check_combination,
    create_endpoint,
    delete_endpoint,
    delivery_counts,
    endpoint_view,
    event_filter,
    rotate_secret,
    set_enabled,
)
from inbound.webhooks.fanout import delivery_row
from inbound.webhooks.formats import WHATSMATE, whatsmate_test_body

TEST_EVENT_TYPE = "webhook.test"
ADMIN_DISABLED = "disabled through the admin API"


async def checked_url(svc: Services, url: str) -> str:
    """`url` (its shape checked by the body's model) if its host is not a refused target."""
    try:
        return await check_target(
            url,
            allow_private=svc.settings.webhook_delivery.allow_private_targets,
            resolve=svc.resolve_host,
        )
    except TargetError as exc:
        raise ApiError("invalid_field", str(exc)) from exc


_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _endpoint_id(request: Request) -> str:
    endpoint_id = str(request.path_params["id"])
    # Never hand the database what cannot be an id (PostgreSQL refuses a NUL outright).
    if not endpoint_id or len(endpoint_id) > 40 or not set(endpoint_id) <= _ID_CHARS:
        raise _missing(endpoint_id[:60])
    return endpoint_id


def _missing(endpoint_id: str) -> ApiError:
    return ApiError("not_found", f"No webhook endpoint with id {endpoint_id!r}")


def _changeable(endpoint: WebhookEndpoint, fields: set[str] | None = None) -> WebhookEndpoint:
    """The endpoint, if the admin API may change it (`fields`, for a PATCH; None: a deletion
    or a rotation). The endpoints the gateway keeps itself are changed through what owns them:
    - a client's callback endpoint follows its client's callback secret and its messages'
      URLs; the admin may only switch it on and off;
    - the alert webhook gets alerts only, in the standard format: no filter, format or token.
    """
    if endpoint.source == ALERTS_SOURCE and fields and fields & {"events", "format", "token"}:
        raise ApiError(
            "conflict",
            "This is the alert webhook: it gets alerts only, in the standard format; "
            "set its URL with PUT /admin/alerts/webhook",
        )
    if endpoint.source == "callback" and (fields is None or fields - {"enabled"}):
        raise ApiError(
            "conflict",
            f"{endpoint.id} is a client's callback endpoint: its secret is rotated with "
            f"POST /admin/clients/{endpoint.client_id}/callback-secret/rotate, and it is "
            "made and kept by the client's sends (it can be enabled or disabled, and its "
            "deliveries listed and replayed)",
        )
    return endpoint


async def create_webhook(request: Request) -> Response:
    svc = services(request)
    data = parse_body(shown.NewWebhookBody, await read_json_object(request))
    url = await checked_url(svc, data.url)
    events, format_, token = data.events, data.format, data.token
    check_combination(format_, events)
    now = svc.clock()
    async with svc.database.write() as session:
        endpoint, secret = await create_endpoint(
            session,
            svc.secret_box,
            url=url,
            events=events,
            now=now,
            secret=data.secret,
            format_=format_,
            token=token,
        )
    view = {**endpoint_view(endpoint, now), "secret": secret, "token": token}
    return JSON(shown.WebhookEndpointWithSecret.model_validate(view), status_code=201)


async def list_webhooks(request: Request) -> Response:
    svc = services(request)
    now = svc.clock()
    async with svc.database.read() as session:
        endpoints = list(
            await session.scalars(
                # Clients' callback endpoints are not the admin's (README, Per-message callbacks).
                select(WebhookEndpoint)
                .where(col(WebhookEndpoint.source) != "callback")
                .order_by(col(WebhookEndpoint.created_at))
            )
        )
        views = [endpoint_view(e, now, await delivery_counts(session, e.id)) for e in endpoints]
    return JSON(shown.WebhookEndpointList.model_validate({"data": views}))


async def get_webhook(request: Request) -> Response:
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    now = svc.clock()
    async with svc.database.read() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise _missing(endpoint_id)
        counts = await delivery_counts(session, endpoint_id)
    # The admin may read the secret (a config endpoint's generated one has no other way out).
    try:
        secret: str | None = svc.secret_box.open(endpoint.id, endpoint.secret)
        problem = None
    except SealError:
        secret = None
        problem = "the stored secret does not open (was secret_key changed?): rotate it"
    # And the token: the admin set it, and a receiver is configured by copying it.
    try:
        token = svc.secret_box.open_token(endpoint.id, endpoint.token)
        token_problem = None
    except SealError:
        token = None
        token_problem = "the stored token does not open (was secret_key changed?): set it again"
    view = {**endpoint_view(endpoint, now, counts), "secret": secret, "token": token}
    if problem:
        view["secret_problem"] = problem
    if token_problem:
        view["token_problem"] = token_problem
    return JSON(shown.WebhookEndpointWithSecret.model_validate(view))


async def update_webhook(request: Request) -> Response:
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    data = parse_body(shown.WebhookChanges, await read_json_object(request))
    given = data.model_fields_set
    url = await checked_url(svc, data.url) if data.url is not None else None
    events, enabled, format_, token = data.events, data.enabled, data.format, data.token
    now = svc.clock()
    async with svc.database.write() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise _missing(endpoint_id)
        _changeable(endpoint, given)
        # The format and the filter as they will be, whichever of the two this call changes.
        check_combination(
            format_ or endpoint.format, events if "events" in given else event_filter(endpoint)
        )
        if url is not None:
            endpoint.url = url
        if "events" in given:
            endpoint.events = orjson.dumps(events).decode() if events is not None else None
        if format_ is not None:
            endpoint.format = format_
        if "token" in given:
            endpoint.token = svc.secret_box.seal_token(endpoint.id, token)
        if enabled is not None and enabled != endpoint.enabled:
            set_enabled(endpoint, enabled, now, ADMIN_DISABLED)
            if enabled:
                await endpoint_enabled(session, endpoint, now)
            else:
                await endpoint_disabled(session, endpoint, ADMIN_DISABLED, now)
        endpoint.updated_at = now
        counts = await delivery_counts(session, endpoint_id)
    svc.wakeup.notify(TOPIC)  # re-enabled: its waiting deliveries go at once
    return JSON(shown.WebhookEndpoint.model_validate(endpoint_view(endpoint, now, counts)))


async def remove_webhook(request: Request) -> Response:
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    async with svc.database.write() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise _missing(endpoint_id)
        _changeable(endpoint)
        await delete_endpoint(session, endpoint)
    return JSON(shown.WebhookDeleted(id=endpoint_id, deleted=True))


async def rotate_webhook_secret(request: Request) -> Response:
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    now = svc.clock()
    async with svc.database.write() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise _missing(endpoint_id)
        _changeable(endpoint)
        secret = rotate_secret(endpoint, svc.secret_box, now)
    return JSON(
        shown.RotatedSecret.model_validate(
            {
                "id": endpoint_id,
                "secret": secret,
                "previous_secret_until": iso_or_none(endpoint.previous_secret_until),
            }
        )
    )


async def test_webhook(request: Request) -> Response:
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    now = svc.clock()
    event_id = f"evt_test_{uuid.uuid4().hex[:24]}"
    body = {
        "type": TEST_EVENT_TYPE,
        "id": event_id,
        "seq": None,
        "timestamp": iso_or_none(now),
        "instance_id": None,
        "gateway_number": None,
        # No `number`/`message`: only message.received has them (app/events.py).
        "data": {"endpoint_id": endpoint_id, "text": "A test event from tgw."},
    }
    async with svc.database.write() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise _missing(endpoint_id)
        if not endpoint.enabled:
            raise ApiError(
                "conflict",
                f"The endpoint is disabled ({endpoint.disabled_reason}); enable it first",
            )
        row = delivery_row(
            endpoint_id, None, event_id, TEST_EVENT_TYPE, None, now, orjson.dumps(body).decode()
        )
        delivery = WebhookDelivery(**row)
        session.add(delivery)
        await session.flush()
        delivery_id = delivery.id
        body_sent: dict[str, Any] = body
        if endpoint.format == WHATSMATE:
            # The worker sends this shape instead, rendered when sent (the token stays sealed
            # in the stored delivery); a token that does not open fails the attempt, not this.
            token: str | None = None
            with contextlib.suppress(SealError):
                token = svc.secret_box.open_token(endpoint.id, endpoint.token)
            body_sent = whatsmate_test_body(token)
    svc.wakeup.notify(TOPIC)
    return JSON(
        shown.TestQueued.model_validate({"delivery_id": delivery_id, "event": body_sent}),
        status_code=202,
    )


def delivery_view(row: WebhookDelivery, attempts: list[DeliveryAttempt]) -> shown.WebhookDelivery:
    return shown.WebhookDelivery.model_validate(
        {
            "id": row.id,
            "endpoint_id": row.endpoint_id,
            "event_id": row.event_id,
            "event_type": row.event_type,
            "event_seq": row.event_seq,
            "conversation": row.conversation,
            "status": row.status,
            "attempts": row.attempts,
            "next_attempt_at": iso_or_none(row.next_attempt_at)
            if row.status == "pending"
            else None,
            "last_status_code": row.last_status_code,
            "last_error": row.last_error,
            "created_at": iso_or_none(row.created_at),
            "delivered_at": iso_or_none(row.delivered_at),
            "attempt_log": [
                {
                    "attempted_at": iso_or_none(a.attempted_at),
                    "status_code": a.status_code,
                    "latency_ms": a.latency_ms,
                    "response_excerpt": a.response_excerpt,
                    "error": a.error,
                }
                for a in attempts
            ],
        }
    )


async def _attempts_of(session: Any, ids: list[int]) -> dict[int, list[DeliveryAttempt]]:
    found: dict[int, list[DeliveryAttempt]] = {i: [] for i in ids}
    if ids:
        rows = await session.scalars(
            select(DeliveryAttempt)
            .where(col(DeliveryAttempt.delivery_id).in_(ids))
            .order_by(col(DeliveryAttempt.id))
        )
        for attempt in rows:
            found[attempt.delivery_id].append(attempt)
    return found


async def list_deliveries(request: Request) -> Response:
    """Newest first; `before` (a delivery id) pages back; `status` filters."""
    svc = services(request)
    endpoint_id = _endpoint_id(request)
    query = parse_query(shown.DeliveryQuery, request.query_params)
    status, limit, before = query.status, query.limit, query.before
    async with svc.database.read() as session:
        if await session.get(WebhookEndpoint, endpoint_id) is None:
            raise _missing(endpoint_id)
        found = select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id)
        if status is not None:
            found = found.where(col(WebhookDelivery.status) == status)
        if before:
            found = found.where(col(WebhookDelivery.id) < before)
        rows = list(
            await session.scalars(found.order_by(col(WebhookDelivery.id).desc()).limit(limit))
        )
        attempts = await _attempts_of(session, [r.id for r in rows if r.id is not None])
    data = [delivery_view(r, attempts.get(r.id or 0, [])) for r in rows]
    more = len(rows) == limit
    return JSON(
        shown.WebhookDeliveryList(data=data, next_before=data[-1].id if data and more else None)
    )


async def replay_delivery(request: Request) -> Response:
    svc = services(request)
    raw = str(request.path_params["id"])
    delivery_id = ascii_int(raw, 1, 2**63 - 1)
    if delivery_id is None:
        raise ApiError("not_found", f"No delivery with id {raw[:40]!r} (delivery ids are integers)")
    now = svc.clock()
    async with svc.database.write() as session:
        row = await session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise ApiError("not_found", f"No delivery with id {delivery_id}")
        if row.status in ("pending", "delivering"):
            raise ApiError(
                "conflict", f"Delivery {delivery_id} is {row.status} already: it will be sent"
            )
        endpoint = await session.get(WebhookEndpoint, row.endpoint_id)
        if endpoint is not None and not endpoint.enabled:
            raise ApiError(
                "conflict",
                f"The endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); "
                'enable it first (PATCH /admin/webhooks/{id} {"enabled": true})',
            )
        # A fresh run of the retry schedule; the earlier attempts stay in the log.
        await session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id)
            .values(status="pending", attempts=0, next_attempt_at=now, delivered_at=None)
        )
        await session.refresh(row)
        attempts = await _attempts_of(session, [delivery_id])
    svc.wakeup.notify(TOPIC)
    return JSON(delivery_view(row, attempts[delivery_id]))


routes = [
    endpoint(ADMIN, f"/admin/{path}", handler, methods=[method], doc=doc)
    for path, handler, method, doc in (
        ("webhooks", create_webhook, "POST", ops.CREATE),
        ("webhooks", list_webhooks, "GET", ops.LIST),
        ("webhooks/{id:str}", get_webhook, "GET", ops.GET),
        ("webhooks/{id:str}", update_webhook, "PATCH", ops.UPDATE),
        ("webhooks/{id:str}", remove_webhook, "DELETE", ops.DELETE),
        ("webhooks/{id:str}/rotate-secret", rotate_webhook_secret, "POST", ops.ROTATE_SECRET),
        ("webhooks/{id:str}/deliveries", list_deliveries, "GET", ops.DELIVERIES),
        ("webhooks/{id:str}/test", test_webhook, "POST", ops.TEST),
        ("deliveries/{id:str}/replay", replay_delivery, "POST", ops.REPLAY),
    )
]
