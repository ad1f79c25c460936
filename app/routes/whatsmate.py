"""The WhatsMate-compatible send endpoints: /v3/telegram/{single|group}/{kind}/message/{n}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.errors import ApiError
from app.routes.common import JSON, parse_json_object, read_body, services, whatsmate_error
from outbound.accept import Credentials, request_fingerprint
from outbound.requests import parse_kind, whatsmate_request

# JSON around the base64 text of the largest medium: field names, caption, filename.
ENVELOPE_BYTES = 64 * 1024


def max_body_bytes(largest_media_bytes: int) -> int:
    return (largest_media_bytes + 2) // 3 * 4 + ENVELOPE_BYTES


def credentials(request: Request) -> Credentials:
    return Credentials(
        client_id=request.headers.get("x-wm-client-id"),
        secret=request.headers.get("x-wm-client-secret"),
        idempotency_key=request.headers.get("idempotency-key") or None,
    )


def _render(message: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"status": "queued", "id": message["id"]}


async def send(request: Request) -> Response:
    svc = services(request)
    scope = request.path_params["scope"]
    try:
        if scope not in ("single", "group"):
            raise ApiError("not_found", f"Unknown path segment {scope!r}: use single or group")
        kind = parse_kind(request.path_params["kind"])
        raw_instance = request.path_params["instance"]
        if not raw_instance.isdigit() or int(raw_instance) < 1:
            raise ApiError("unknown_instance", f"Invalid gateway instance number {raw_instance!r}")
        instance = int(raw_instance)
        creds = credentials(request)
        client_id = await svc.enqueuer.authenticate(creds)
        svc.enqueuer.check_instance(instance)
        body = await read_body(request, max_body_bytes(svc.settings.limits.largest_media_bytes))
        fingerprint = request_fingerprint(request.url.path, body)
        replayed = await svc.enqueuer.replay(client_id, creds.idempotency_key, fingerprint)
        if replayed is not None:
            return JSON(replayed[1], status_code=replayed[0])
        data = parse_json_object(body)
        send_request = whatsmate_request(scope, kind, instance, data, svc.settings.limits)
        status, answer = await svc.enqueuer.enqueue(
            client_id,
            send_request,
            idempotency_key=creds.idempotency_key,
            fingerprint=fingerprint,
            render=_render,
        )
    except ApiError as exc:
        svc.metrics.refused.labels(str(exc.status)).inc()
        return whatsmate_error(exc)
    svc.metrics.accepted.labels(kind).inc()
    return JSON(answer, status_code=status)


routes = [
    Route(
        "/v3/telegram/{scope:str}/{kind:str}/message/{instance:str}",
        send,
        methods=["POST"],
    ),
]
