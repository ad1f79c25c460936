"""Unauthenticated probes and metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.db import ping
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
    return Response(
        generate_latest(services(request).metrics.registry), media_type=CONTENT_TYPE_LATEST
    )


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
