"""The WhatsMate-compatible send endpoints: /v3/telegram/{single|group}/{kind}/message/{n}.

`accept_send` is the one path from an HTTP request to the durable queue (instance, credentials,
bounded body, Idempotency-Key, validation, quota); the legacy v1 paths (whatsmate_v1.py) use it
too and differ only in how they read the body and shape the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.errors import ApiError
from app.routes.apidoc import SEND_ERRORS, Body, Doc, Expansion, InstancePath
from app.routes.apidoc import Answer as Reply
from app.routes.callback_schemas import SendHeaders
from app.routes.common import JSON, instance_number, parse_json_object, read_body, services
from app.routes.send_bodies import parse_send
from app.routes.surface import endpoint
from app.routes.surfaces import (
    WHATSMATE,
    client_id,
    client_quota,
    credentials,
    require_client_instance,
)
from app.routes.whatsmate_schemas import Queued, articled, v3_model, v3_name
from app.settings import LimitsSettings
from outbound.callback_url import callback_url, fingerprint_with, with_callback
from outbound.requests import KINDS, parse_kind
from outbound.send_request import Answer, ManyRenderer, SendRequest, request_fingerprint

# JSON around the base64 text of the largest medium: field names, caption, filename.
ENVELOPE_BYTES = 64 * 1024

# Reads a validated body into the messages it asks for (one, or one per number of a batch).
Builder = Callable[[int, dict[str, Any], LimitsSettings], list[SendRequest]]


def max_body_bytes(largest_media_bytes: int) -> int:
    return (largest_media_bytes + 2) // 3 * 4 + ENVELOPE_BYTES


async def accept_send(
    request: Request,
    *,
    kind: str,
    build: Builder,
    render: ManyRenderer,
    extra_body_bytes: int = 0,
) -> Answer:
    """Queue what the request asks for and return the answer (or the first answer, for a
    repeated Idempotency-Key); ApiError for every refusal. Counts accepted messages. The
    surface has authenticated the client."""
    svc = services(request)
    instance = instance_number(request.path_params["instance"])
    creds = credentials(request)
    client = client_id(request)
    svc.enqueuer.check_instance(instance)
    require_client_instance(request, instance)
    limit = max_body_bytes(svc.settings.limits.largest_media_bytes) + extra_body_bytes
    body = await read_body(request, limit)
    fingerprint = fingerprint_with(request_fingerprint(request.url.path, body), request.headers)
    replayed = await svc.enqueuer.replay(client, creds.idempotency_key, fingerprint)
    if replayed is not None:
        return replayed
    data = parse_json_object(body)
    allow_private = svc.settings.webhook_delivery.allow_private_targets
    callback = callback_url(data, request.headers, allow_private=allow_private)
    if kind == "image":
        # Decoding a picture takes tens of milliseconds: not on the event loop.
        send_requests = await asyncio.to_thread(build, instance, data, svc.settings.limits)
    else:
        send_requests = build(instance, data, svc.settings.limits)
    answer = await svc.enqueuer.enqueue_all(
        client,
        with_callback(send_requests, callback),
        idempotency_key=creds.idempotency_key,
        fingerprint=fingerprint,
        render=render,
        client_quota=client_quota(request),
    )
    svc.metrics.accepted.labels(kind).inc(len(send_requests))
    return answer


def _render(rows: Sequence[Mapping[str, Any]]) -> Answer:
    # A dict, not the model: the answer is also stored for a repeated Idempotency-Key.
    return 200, Queued(status="queued", id=rows[0]["id"]).model_dump()


async def send(request: Request) -> Response:
    scope = request.path_params["scope"]
    if scope not in ("single", "group"):
        raise ApiError("not_found", f"Unknown path segment {scope!r}: use single or group")
    kind = parse_kind(request.path_params["kind"])
    model = v3_model(scope, kind)

    def build(instance: int, data: dict[str, Any], limits: LimitsSettings) -> list[SendRequest]:
        return parse_send(model, data, limits).requests(kind, instance)

    status, answer = await accept_send(request, kind=kind, build=build, render=_render)
    return JSON(answer, status_code=status)


TAG_V3 = "WhatsMate v3"


def _v3_doc(scope: str, kind: str) -> Expansion:
    target = "a registered number" if scope == "single" else "a Telegram group"
    what = articled(kind.replace("_", " "))
    description = (
        f"Queue {what} for {target}. The message is durably stored before the answer. The same "
        "Idempotency-Key with the same body within 24 h returns the first answer and sends once. "
        "With callback_url (or the X-Callback-URL header) its status events are POSTed to that "
        "URL, signed (README, Per-message callbacks)."
    )
    if scope == "group":
        description += " The gateway account must be a member of the group."
    doc = Doc(
        f"send{v3_name(scope, kind).removesuffix('Message')}",
        TAG_V3,
        f"Send {what} to {target}",
        description,
        {200: Reply("Queued.", Queued)},
        errors=SEND_ERRORS,
        path=InstancePath,
        headers=SendHeaders,
        body=Body(v3_model(scope, kind), f"The {kind.replace('_', ' ')} and its target."),
    )
    return Expansion(f"/v3/telegram/{scope}/{kind}/message/{{instance}}", doc)


routes = [
    endpoint(
        WHATSMATE,
        "/v3/telegram/{scope:str}/{kind:str}/message/{instance:str}",
        send,
        methods=["POST"],
        sends=True,
        expansions=[_v3_doc(scope, kind) for scope in ("single", "group") for kind in KINDS],
    ),
]
