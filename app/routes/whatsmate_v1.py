"""WhatsMate's legacy v1 paths, for clients written before its v3 API.

They go through the same path as v3 (`accept_send`: credentials, Idempotency-Key, validation,
the durable queue and the daily quota) and answer in the v1 envelope: `{"success": true,
"status": "queued", "id"}` (a batch adds `ids`, one per number in order), and on an error the
v3 status code with `{"success": false, "status": "<the error text>"}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.errors import ApiError
from app.models import Instance
from app.routes.apidoc import SEND_ERRORS, Body, Doc, Expansion, InstancePath
from app.routes.apidoc import Answer as Reply
from app.routes.callback_schemas import SendHeaders
from app.routes.common import JSON, instance_number, services
from app.routes.send_bodies import parse_send
from app.routes.surface import Handler, endpoint
from app.routes.surfaces import WHATSMATE_V1, require_client_instance, v1_body
from app.routes.whatsmate import accept_send
from app.routes.whatsmate_schemas import (
    LegacyStatus,
    V1BatchQueued,
    V1LocationMessage,
    V1Queued,
    v1_model,
)
from app.settings import LimitsSettings
from app.vocabulary import Scope
from outbound.send_request import Answer, SendRequest

TARGETS = ("single", "batch", "group")
# v1's first name of the single text path (2016), renamed within days; clients kept it.
ALIASES = {"send": "single"}
# v1 path segment -> message kind; v1 sent files as ".../{kind}/binary/{n}".
V1_KINDS = {"photo": "image", "document": "document", "audio": "audio"}
_V1_WORDS = {kind: word for word, kind in V1_KINDS.items()}
# Each number of a batch is at most this much JSON ('"+1 415 555 2671", ').
BYTES_PER_NUMBER = 40


# Dicts, not the models: the answer is also stored for a repeated Idempotency-Key.
def _render_one(rows: Sequence[Mapping[str, Any]]) -> Answer:
    return 200, V1Queued(success=True, status="queued", id=rows[0]["id"]).model_dump()


def _render_batch(rows: Sequence[Mapping[str, Any]]) -> Answer:
    ids = [row["id"] for row in rows]
    answer = V1BatchQueued(success=True, status="queued", ids=ids, id=ids[0])
    return 200, answer.model_dump()


async def _send(request: Request, target: str, kind: str) -> Response:
    svc = services(request)
    if target not in TARGETS:
        raise ApiError("not_found", f"Unknown path segment {target!r}: use {', '.join(TARGETS)}")
    if target == "group" and kind != "text":
        raise ApiError("not_found", "v1 group sends are text only: use the v3 group paths")

    model = v1_model(target, "text" if kind == "text" else _V1_WORDS[kind], kind)

    def build(instance: int, data: dict[str, Any], limits: LimitsSettings) -> list[SendRequest]:
        return parse_send(model, data, limits).requests(kind, instance)

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
    require_client_instance(request, number)
    async with svc.database.read() as session:
        inst = await session.get(Instance, number)
    up = inst is not None and inst.status == "ready" and inst.status_detail != "disconnected"
    return JSON(LegacyStatus(status="up" if up else "down", instance=number))


TAG_V1 = "WhatsMate v1 (legacy)"
_TARGETS = {"single": "a number", "batch": "several numbers", "group": "a group"}
_ARTICLED = {"photo": "a photo", "document": "a document", "audio": "an audio file"}
_SAME = (
    "Like the v3 path of the same kind, in the v1 envelope. The same Idempotency-Key with the "
    "same body within 24 h returns the first answer and sends once."
)
_BATCH_NOTE = (
    " One message per number, all accepted or none; the answer lists their ids in the order of "
    "numbers."
)


def _v1_send(
    path: str, shape: str, what: str, summary: str, description: str | None = None
) -> Expansion:
    """A v1 send at `path`: `shape` single, batch or group; `what` text or a v1 file kind."""
    batch = shape == "batch"
    doc = Doc(
        "v1" + shape.title() + what.title(),
        TAG_V1,
        summary,
        description or _SAME + (_BATCH_NOTE if batch else ""),
        {200: Reply("Queued.", V1BatchQueued if batch else V1Queued)},
        errors=SEND_ERRORS,
        deprecated=True,
        path=InstancePath,
        headers=SendHeaders,
        body=Body(
            v1_model(shape, what, V1_KINDS.get(what, what)),
            "What to send and to whom.",
        ),
        error_family="V1",
    )
    return Expansion(path, doc)


def _text_sends() -> list[Expansion]:
    found = [
        _v1_send(
            f"/v1/telegram/{shape}/message/{{instance}}",
            shape,
            "text",
            f"Send a text to {_TARGETS[shape]} (v1)",
        )
        for shape in ("single", "batch", "group")
    ]
    alias = _v1_send(
        "/v1/telegram/send/message/{instance}",
        "single",
        "text",
        "Send a text to one person (v1, the 2016 name)",
        "The first name of /v1/telegram/single/message/{instance}, answered the same way.",
    )
    found.append(Expansion(alias.path, replace(alias.doc, operation_id="v1SendText")))
    return found


def _file_sends() -> list[Expansion]:
    return [
        _v1_send(
            f"/v1/telegram/{shape}/{segment}/binary/{{instance}}",
            shape,
            segment,
            f"Send {_ARTICLED[segment]} to {_TARGETS[shape]} (v1)",
        )
        for shape in ("single", "batch")
        for segment in V1_KINDS
    ]


def _locations() -> list[Expansion]:
    return [
        Expansion(
            f"/v1/telegram/{shape}/location/{{instance}}",
            Doc(
                f"v1{shape.title()}Location",
                TAG_V1,
                f"Send a location ({shape}, v1): not supported",
                "Location messages are not supported by this gateway yet: the request is "
                "refused with 400 and a message saying so (after the credentials are checked).",
                {},
                errors=(400, 401, 474),
                deprecated=True,
                path=InstancePath,
                body=Body(V1LocationMessage, "The place.", required=False),
                error_family="V1",
            ),
        )
        for shape in ("single", "batch")
    ]


def _send_route(path: str, handler: Handler, expansions: list[Expansion]) -> Route:
    """A v1 send: refusals in the v1 envelope (the status endpoint keeps `{"error_message"}`)."""
    return endpoint(
        WHATSMATE_V1,
        path,
        handler,
        methods=["POST"],
        sends=True,
        error_body=v1_body,
        expansions=expansions,
    )


routes = [
    endpoint(
        WHATSMATE_V1,
        "/v1/telegram/status/{instance:str}",
        status,
        scope=Scope.READ,
        doc=Doc(
            "legacyStatus",
            TAG_V1,
            "Instance status (WhatsMate shape)",
            "Whether the instance is logged in and connected: "
            '{"status": "up"|"down", "instance": n}. Errors are {"error_message": ...}.',
            {200: Reply("The status.", LegacyStatus)},
            errors=(401, 404, 474),
            path=InstancePath,
        ),
    ),
    _send_route("/v1/telegram/{target:str}/message/{instance:str}", send_text, _text_sends()),
    _send_route("/v1/telegram/{target:str}/location/{instance:str}", send_location, _locations()),
    _send_route(
        "/v1/telegram/{target:str}/{kind:str}/binary/{instance:str}", send_file, _file_sends()
    ),
]
