"""Unauthenticated probes and metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.db import ping
from app.models import Instance, Message
from app.routes.common import JSON, services


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await ping(services(request).engine)
    except Exception as exc:  # any database failure means "not ready", never a 500
        return JSON({"status": "unavailable", "database": str(exc)[:200]}, status_code=503)
    return JSON({"status": "ready", "database": "ok"})


async def metrics(request: Request) -> Response:
    svc = services(request)
    try:
        async with svc.read_factory() as session:
            counts = (
                await session.execute(
                    select(col(Message.instance), col(Message.status), func.count()).group_by(
                        col(Message.instance), col(Message.status)
                    )
                )
            ).all()
            instances = list(await session.scalars(select(Instance)))
    except Exception:  # the database being down must not break the scrape
        counts, instances = [], []
    for instance, status, count in counts:
        svc.metrics.queue.labels(str(instance), status).set(count)
    for inst in instances:
        up = inst.status == "ready" and inst.status_detail != "disconnected"
        svc.metrics.instance_up.labels(str(inst.number)).set(1 if up else 0)
    return Response(
        generate_latest(services(request).metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
