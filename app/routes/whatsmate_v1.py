"""WhatsMate's legacy v1 paths, for clients written before its v3 API.

They go through the same path as v3 (`accept_send`: credentials, Idempotency-Key, validation,
the durable queue and the daily quota) and answer in the v1 envelope: `{"success": true,
"status": "queued", "id"}` (a batch adds `ids`, one per number in order), and on an error the
v3 status code with `{"success": false, "status": "<the error text>"}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.errors import ApiError
from app.models import Instance
from app.routes.common import JSON, instance_number, services
from app.routes.surface import Handler, endpoint
from app.routes.surfaces import WHATSMATE_V1, v1_body
from app.routes.whatsmate import accept_send
from app.settings import LimitsSettings
from outbound.accept import Answer, SendRequest
from outbound.requests import v1_requests

TARGETS = ("single", "batch", "group")
# v1's first name of the single text path (2016), renamed within days; clients kept it.
ALIASES = {"send": "single"}
# v1 path segment -> message kind; v1 sent files as ".../{kind}/binary/{n}".
V1_KINDS = {"photo": "image", "document": "document", "audio": "audio"}
# Each number of a batch is at most this much JSON ('"+1 415 555 2671", ').
BYTES_PER_NUMBER = 40


def _render_one(rows: Sequence[Mapping[str, Any]]) -> Answer:
    return 200, {"success": True, "status": "queued", "id": rows[0]["id"]}


def _render_batch(rows: Sequence[Mapping[str, Any]]) -> Answer:
    ids = [row["id"] for row in rows]
    return 200, {"success": True, "status": "queued", "ids": ids, "id": ids[0]}


async def _send(request: Request, target: str, kind: str) -> Response:
    svc = services(request)
    if target not in TARGETS:
        raise ApiError("not_found", f"Unknown path segment {target!r}: use {', '.join(TARGETS)}")
    if target == "group" and kind != "text":
        raise ApiError("not_found", "v1 group sends are text only: use the v3 group paths")

    def build(instance: int, data: dict[str, Any], limits: LimitsSettings) -> list[SendRequest]:
        return v1_requests(target, kind, instance, data, limits)

    batch = target == "batch"
    status, answer = await accept_send(
        request,
        kind=kind,
        build=build,
        render=_render_batch if batch else _render_one,
        extra_body_bytes=svc.settings.limits.max_recipients * BYTES_PER_NUMBER if batch else 0,
    )
    return JSON(answer, status_code=status)


async def send_text(request: Request) -> Response:
    target = request.path_params["target"]
    return await _send(request, ALIASES.get(target, target), "text")


async def send_file(request: Request) -> Response:
    raw = request.path_params["kind"]
    if raw not in V1_KINDS:
        names = ", ".join(V1_KINDS)
        raise ApiError("not_found", f"Unknown v1 file kind {raw!r}: use {names}")
    return await _send(request, request.path_params["target"], V1_KINDS[raw])


async def send_location(request: Request) -> Response:
    """Refused plainly, not with a bare 404: the path is WhatsMate's, the feature is missing.
    Credentials are checked first (by the surface), as on every other v1 path."""
    raise ApiError(
        "bad_request",
        "Location messages are not supported by this gateway yet; send the place as a "
        "text (a maps link) with /v1/telegram/single/message/{instance}",
    )


async def status(request: Request) -> Response:
    """`{"status": "up"|"down", "instance": n}`: up while the instance is logged in and
    connected. Errors keep the `{"error_message"}` shape this endpoint has always had."""
    svc = services(request)
    number = instance_number(request.path_params["instance"])
    svc.enqueuer.check_instance(number)
    async with svc.read_factory() as session:
        inst = await session.get(Instance, number)
    up = inst is not None and inst.status == "ready" and inst.status_detail != "disconnected"
    return JSON({"status": "up" if up else "down", "instance": number})


def _send_route(path: str, handler: Handler) -> Route:
    """A v1 send: refusals in the v1 envelope (the status endpoint keeps `{"error_message"}`)."""
    return endpoint(WHATSMATE_V1, path, handler, methods=["POST"], sends=True, error_body=v1_body)


routes = [
    endpoint(WHATSMATE_V1, "/v1/telegram/status/{instance:str}", status),
    _send_route("/v1/telegram/{target:str}/message/{instance:str}", send_text),
    _send_route("/v1/telegram/{target:str}/location/{instance:str}", send_location),
    _send_route("/v1/telegram/{target:str}/{kind:str}/binary/{instance:str}", send_file),
]
