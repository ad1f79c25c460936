"""Admin API for operator alerts: the recent alerts, the alert webhook, a test alert.

The console lists alerts with GET /admin/alerts, as scripts do.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response

from app.alerts.record import AlertKind, Severity, raise_alert_async
from app.errors import ApiError
from app.models import Alert, WebhookDelivery, WebhookEndpoint
from app.routes import alerts_docs as ops
from app.routes import alerts_schemas as shown
from app.routes.admin import read_json_object
from app.routes.bodies import parse_body, parse_query
from app.routes.common import JSON, services
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN
from app.routes.webhooks import checked_url
from app.sealing import SealError
from app.services import Services
from app.timestamps import iso_or_none
from inbound.webhooks.alert_endpoint import alert_endpoint, set_alert_webhook
from inbound.webhooks.delivery import TOPIC
from inbound.webhooks.endpoints import delete_endpoint, delivery_counts, endpoint_view

NO_WEBHOOK = "No alert webhook is set (PUT /admin/alerts/webhook, or [alerts] url)"


async def list_alerts(request: Request) -> Response:
    """Newest first; `before` (an alert id) pages back."""
    svc = services(request)
    query = parse_query(shown.AlertQuery, request.query_params)
    async with svc.database.read() as session:
        found = select(Alert)
        if query.before:
            found = found.where(col(Alert.id) < query.before)
        rows = list(await session.scalars(found.order_by(col(Alert.id).desc()).limit(query.limit)))
        ids = [r.delivery_id for r in rows if r.delivery_id is not None]
        deliveries = {
            d.id: d
            for d in await session.scalars(
                select(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids))
            )
        }
    data = [alert_view(r, deliveries.get(r.delivery_id or 0)) for r in rows]
    more = len(rows) == query.limit
    return JSON(
        shown.AlertList.model_validate(
            {"data": data, "next_before": data[-1]["id"] if data and more else None}
        )
    )


def alert_view(row: Alert, delivery: WebhookDelivery | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "severity": row.severity,
        "instance": row.instance,
        "summary": row.summary,
        "detail": orjson.loads(row.detail),
        "condition": row.condition,
        "created_at": iso_or_none(row.created_at),
        "resolved_at": iso_or_none(row.resolved_at),
        "delivery": None
        if delivery is None
        else {
            "id": delivery.id,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "last_error": delivery.last_error,
            "delivered_at": iso_or_none(delivery.delivered_at),
        },
    }


def _config_owns(svc: Services) -> None:
    if svc.settings.alerts.url is not None:
        raise ApiError(
            "conflict",
            "The alert webhook is set by [alerts] url in the configuration: change it there",
        )


async def _webhook_answer(svc: Services, session: Any, ep: WebhookEndpoint) -> dict[str, Any]:
    now = svc.clock()
    view = endpoint_view(ep, now, await delivery_counts(session, ep.id))
    view["managed_by"] = "config" if svc.settings.alerts.url is not None else "api"
    try:
        view["secret"] = svc.secret_box.open(ep.id, ep.secret)
    except SealError:
        view["secret"] = None
        view["secret_problem"] = "the stored secret does not open (was secret_key changed?)"
    return view


async def get_alert_webhook(request: Request) -> Response:
    svc = services(request)
    async with svc.database.read() as session:
        ep = await alert_endpoint(session)
        if ep is None:
            raise ApiError("not_found", NO_WEBHOOK)
        view = await _webhook_answer(svc, session, ep)
    return JSON(shown.AlertWebhook.model_validate(view))


async def set_alert_webhook_route(request: Request) -> Response:
    svc = services(request)
    _config_owns(svc)
    data = parse_body(shown.AlertWebhookBody, await read_json_object(request))
    url = await checked_url(svc, data.url)
    async with svc.database.write() as session:
        ep = await set_alert_webhook(
            session, svc.secret_box, url=url, secret=data.secret, now=svc.clock(), enable=True
        )
        await session.flush()
        view = await _webhook_answer(svc, session, ep)
    svc.wakeup.notify(TOPIC)  # enabled again: its waiting alerts go at once
    return JSON(shown.AlertWebhook.model_validate(view))


async def delete_alert_webhook(request: Request) -> Response:
    svc = services(request)
    _config_owns(svc)
    async with svc.database.write() as session:
        ep = await alert_endpoint(session)
        if ep is None:
            raise ApiError("not_found", NO_WEBHOOK)
        endpoint_id = ep.id
        await delete_endpoint(session, ep)
    return JSON(shown.AlertWebhookDeleted(id=endpoint_id, deleted=True))


async def test_alert(request: Request) -> Response:
    svc = services(request)
    now = svc.clock()
    async with svc.database.write() as session:
        ep = await alert_endpoint(session)
        if ep is None:
            raise ApiError("conflict", NO_WEBHOOK)
        if not ep.enabled:
            raise ApiError(
                "conflict",
                f"The alert webhook is disabled ({ep.disabled_reason}); enable it first",
            )
        alert_id = await raise_alert_async(
            session,
            kind=AlertKind.TEST,
            severity=Severity.INFO,
            summary="A test alert from tgw.",
            detail={"endpoint_id": ep.id},
            now=now,
        )
        row = await session.get(Alert, alert_id)
        assert row is not None  # a test alert has no condition: always written
        delivery = None
        if row.delivery_id is not None:  # None: disabled by another process meanwhile
            delivery = await session.get(WebhookDelivery, row.delivery_id)
        view = alert_view(row, delivery)
    svc.wakeup.notify(TOPIC)
    return JSON(shown.AlertQueued.model_validate({"alert": view}), status_code=202)


routes = [
    endpoint(ADMIN, "/admin/alerts", list_alerts, doc=ops.LIST),
    endpoint(ADMIN, "/admin/alerts/webhook", get_alert_webhook, doc=ops.GET_WEBHOOK),
    endpoint(
        ADMIN,
        "/admin/alerts/webhook",
        set_alert_webhook_route,
        methods=["PUT"],
        doc=ops.SET_WEBHOOK,
    ),
    endpoint(
        ADMIN,
        "/admin/alerts/webhook",
        delete_alert_webhook,
        methods=["DELETE"],
        doc=ops.DELETE_WEBHOOK,
    ),
    endpoint(ADMIN, "/admin/alerts/test", test_alert, methods=["POST"], doc=ops.TEST),
]
