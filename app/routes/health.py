"""Unauthenticated probes and metrics."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import Field
from sqlalchemy import func, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response

from app.db import check_ready
from app.errors import DatabaseUnavailable
from app.instances import STATUSES
from app.models import Instance, Message, UTCDateTime, WebhookDelivery, WebhookEndpoint
from app.retention import table_rows
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Doc, Model
from app.routes.common import JSON, services
from app.routes.surface import endpoint
from app.routes.surfaces import ROOT
from app.vocabulary import MessageStatus
from inbound.webhooks.callbacks import is_callback_endpoint


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 while the database answers and takes writes; else 503 saying why, with Retry-After.

    Checking also lifts a refusal of writes whose cause is gone (the disk has room again), so
    that a gateway taken out of a load balancer's rotation comes back by itself.
    """
    svc = services(request)
    try:
        await check_ready(svc.database.engine, svc.database.write_lock)
    except DatabaseUnavailable as exc:
        return _not_ready(exc.reason, exc.message, exc.retry_after_s)
    except Exception as exc:  # any other failure of the check means "not ready", never a 500
        return _not_ready("error", f"The database check failed: {str(exc)[:200]}", 5)
    return JSON({"status": "ready", "database": "ok"})


def _not_ready(reason: str, message: str, retry_after_s: int) -> Response:
    return JSON(
        {"status": "unavailable", "database": reason, "message": message},
        status_code=503,
        headers={"Retry-After": str(retry_after_s)},
    )


async def metrics(request: Request) -> Response:
    svc = services(request)
    try:
        async with svc.database.read() as session:
            counts = (
                await session.execute(
                    select(col(Message.instance), col(Message.status), func.count())
                    .where(col(Message.target_id).is_(None))  # messages, not their actions
                    .group_by(col(Message.instance), col(Message.status))
                )
            ).all()
            instances = list(await session.scalars(select(Instance)))
            # Open deliveries only: the delivered ones are the bulk of the table.
            open_deliveries = (
                await session.execute(
                    select(
                        col(WebhookDelivery.endpoint_id),
                        col(WebhookDelivery.status),
                        func.count(),
                        func.min(col(WebhookDelivery.created_at)),
                    )
                    .where(col(WebhookDelivery.status).in_(("pending", "delivering", "dead")))
                    .group_by(col(WebhookDelivery.endpoint_id), col(WebhookDelivery.status))
                )
            ).all()
            endpoints = (
                await session.execute(select(col(WebhookEndpoint.id), col(WebhookEndpoint.enabled)))
            ).all()
            sizes = await table_rows(session)
    except Exception:  # the database being down must not break the scrape
        counts, instances, open_deliveries, endpoints, sizes = [], [], [], [], {}
    for table, rows in sizes.items():
        svc.metrics.table_rows.labels(table).set(rows)
    balancer = svc.telegram.balancer
    if balancer is not None:
        svc.metrics.cluster_sessions.set(len(balancer.owned))
        svc.metrics.cluster_fair_share.set(balancer.share)
        svc.metrics.cluster_live_workers.set(sum(p.holds_sessions for p in balancer.live))
    # Every status of every instance, 0 when none is in it: a series left at its last count
    # would show a queue that emptied as still full.
    by_status = {(str(instance), status): count for instance, status, count in counts}
    for inst in instances:
        for name in MessageStatus:
            by_status.setdefault((str(inst.number), str(name)), 0)
    for (instance_label, status), count in by_status.items():
        svc.metrics.queue.labels(instance_label, status).set(count)
    now = svc.clock()
    for inst in instances:
        up = inst.status == "ready" and inst.status_detail != "disconnected"
        svc.metrics.instance_up.labels(str(inst.number)).set(1 if up else 0)
        for status in STATUSES:
            current = 1 if inst.status == status else 0
            svc.metrics.instance_status.labels(str(inst.number), status).set(current)
        entered = inst.status_since or inst.updated_at
        held_for = max(0.0, (now - entered).total_seconds())
        svc.metrics.instance_status_since.labels(str(inst.number)).set(held_for)
    # Clients' callback endpoints (one per callback URL, possibly one per message) are counted
    # together under one label: a series per URL would grow without bound.
    for endpoint_id, enabled in endpoints:
        if is_callback_endpoint(endpoint_id):
            continue
        svc.metrics.webhook_enabled.labels(endpoint_id).set(1 if enabled else 0)
    labels = {_endpoint_label(e) for e, _ in endpoints}
    for label in labels:
        for status in ("pending", "delivering", "dead"):
            svc.metrics.webhook_deliveries.labels(label, status).set(0)
        svc.metrics.webhook_oldest_pending.labels(label).set(0)
    totals: dict[tuple[str, str], int] = {}
    oldest_by: dict[str, float] = {}
    for endpoint_id, status, count, oldest in open_deliveries:
        label = _endpoint_label(endpoint_id)
        totals[(label, status)] = totals.get((label, status), 0) + count
        since = UTCDateTime().process_result_value(oldest, svc.database.engine.dialect)
        if status == "pending" and since is not None:
            age = max(0.0, (now - since).total_seconds())
            oldest_by[label] = max(age, oldest_by.get(label, 0.0))
    for (label, status), count in totals.items():
        svc.metrics.webhook_deliveries.labels(label, status).set(count)
    for label, age in oldest_by.items():
        svc.metrics.webhook_oldest_pending.labels(label).set(age)
    return Response(
        generate_latest(services(request).metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


# The `endpoint` label of every client callback endpoint's deliveries, counted together.
CALLBACKS_LABEL = "callbacks"


def _endpoint_label(endpoint_id: str) -> str:
    return CALLBACKS_LABEL if is_callback_endpoint(endpoint_id) else endpoint_id


TAG_PROBES = "Probes and docs"


class Alive(Model):
    status: Literal["ok"] = Field(description="Always 'ok'.")


class Ready(Model):
    status: Literal["ready"] = Field(description="Always 'ready'.")
    database: Literal["ok"] = Field(description="Always 'ok'.")


class NotReady(Model):
    status: Literal["unavailable"] = Field(description="Always 'unavailable'.")
    database: str = Field(
        description="What is wrong: the reason of a database_unavailable error, or 'error' for "
        "a failed check."
    )
    message: str = Field(description="What is wrong, for humans.")


routes = [
    endpoint(
        ROOT,
        "/healthz",
        healthz,
        doc=Doc(
            "healthz",
            TAG_PROBES,
            "Liveness",
            "The process is alive.",
            {200: Reply("Alive.", Alive)},
        ),
    ),
    endpoint(
        ROOT,
        "/readyz",
        readyz,
        doc=Doc(
            "readyz",
            TAG_PROBES,
            "Readiness",
            "The database answers and takes writes (503 while it is down, or while writes are "
            "refused: disk full, read-only, locked); 200 again once it recovers.",
            {
                200: Reply("Ready.", Ready),
                503: Reply(
                    "The database is down or refuses writes.",
                    NotReady,
                    retry_after="Seconds to wait before checking again.",
                ),
            },
        ),
    ),
    endpoint(
        ROOT,
        "/metrics",
        metrics,
        doc=Doc(
            "metrics",
            TAG_PROBES,
            "Prometheus metrics",
            "Metrics in the Prometheus text format.",
            {200: Reply("Metrics.", media="text/plain")},
        ),
    ),
]
