"""Native API (/api/v1): editing, deleting and reacting to messages, and listing those actions.

Each action is accepted as a row of the send queue (outbound/actions.py says why) and answered
202 with the action resource; the send worker makes it, at the account's pace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response

from app.errors import ApiError
from app.models import InboundMessage, Message
from app.routes import message_actions_docs as docs
from app.routes import message_actions_schemas as schemas
from app.routes.common import JSON, parse_json_object, read_body, services
from app.routes.instance_limits import require_message_instance
from app.routes.surface import endpoint
from app.routes.surfaces import NATIVE, client_id, credentials
from app.timestamps import iso_or_none
from app.vocabulary import Scope
from outbound.actions import ActionDesk, ActionRequest, check_emoji, not_found
from outbound.send_request import request_fingerprint
from outbound.validation import is_message_id

# An edit's text is at most 4096 characters of up to 4 bytes, JSON-escaped at worst 12 each.
MAX_BODY_BYTES = 64 * 1024


def render_action(row: Message | Mapping[str, Any]) -> schemas.Action:
    m = row.model_dump() if isinstance(row, Message) else row
    is_reaction = m["kind"] == "reaction"
    words = m["caption"] if m["caption"] is not None else m["text"]
    return schemas.Action(
        id=m["id"],
        message_id=m["target_id"],
        instance=m["instance"],
        action=m["kind"],
        status=m["status"],
        text=None if is_reaction else words,
        emoji=m["text"] if is_reaction else None,
        error_code=m["error_code"],
        error_detail=m["error_detail"],
        attempts=m["attempts"],
        created_at=iso_or_none(m["created_at"]),
        done_at=iso_or_none(m["sent_at"]),
        failed_at=iso_or_none(m["failed_at"]),
    )


async def _accept(request: Request, action: ActionRequest, body: bytes) -> Response:
    svc = services(request)
    creds = credentials(request)
    client = client_id(request)
    await require_message_instance(request, action.target_id)
    # The method is part of the fingerprint: PATCH and DELETE share the path.
    fingerprint = request_fingerprint(f"{request.method} {request.url.path}", body)
    replayed = await svc.enqueuer.replay(client, creds.idempotency_key, fingerprint)
    if replayed is not None:
        return JSON(replayed[1], status_code=replayed[0])
    desk = ActionDesk(svc.database, svc.settings.limits, svc.wakeup, svc.clock)
    status, answer = await desk.accept(
        client,
        action,
        idempotency_key=creds.idempotency_key,
        fingerprint=fingerprint,
        render=lambda row: render_action(row).model_dump(),
    )
    return JSON(answer, status_code=status)


async def _json_body(request: Request) -> tuple[dict[str, Any], bytes]:
    body = await read_body(request, MAX_BODY_BYTES)
    return parse_json_object(body), body


async def edit_message(request: Request) -> Response:
    data, body = await _json_body(request)
    action = ActionRequest("edit", request.path_params["id"], text=data.get("text"))
    return await _accept(request, action, body)


async def delete_message(request: Request) -> Response:
    body = await read_body(request, MAX_BODY_BYTES)  # none is needed; any is ignored
    return await _accept(request, ActionRequest("delete", request.path_params["id"]), body)


async def react_to_message(request: Request) -> Response:
    data, body = await _json_body(request)
    if "emoji" not in data:
        raise ApiError("missing_field", "Missing field 'emoji' (null takes the reaction back)")
    action = ActionRequest("reaction", request.path_params["id"], emoji=check_emoji(data["emoji"]))
    return await _accept(request, action, body)


async def list_actions(request: Request) -> Response:
    svc = services(request)
    client = client_id(request)
    target_id = request.path_params["id"]
    if not is_message_id(target_id):
        raise not_found(target_id)
    await require_message_instance(request, target_id)
    async with svc.database.read() as session:
        ours = await session.get(Message, target_id)
        known = ours is not None and ours.client_id == client and ours.target_id is None
        if not known and ours is None:
            known = await session.get(InboundMessage, target_id) is not None
        if not known:
            raise not_found(target_id)
        rows = await session.scalars(
            select(Message)
            .where(and_(col(Message.target_id) == target_id, col(Message.client_id) == client))
            .order_by(col(Message.created_at), col(Message.id))
            .limit(1000)
        )
        actions = [render_action(r) for r in rows]
    return JSON(schemas.ActionList(data=actions))


PATH = "/api/v1/messages/{id:str}"

routes = [
    endpoint(NATIVE, PATH, edit_message, methods=["PATCH"], scope=Scope.SEND, doc=docs.EDIT),
    endpoint(NATIVE, PATH, delete_message, methods=["DELETE"], scope=Scope.SEND, doc=docs.DELETE),
    endpoint(
        NATIVE,
        f"{PATH}/reactions",
        react_to_message,
        methods=["POST"],
        scope=Scope.SEND,
        doc=docs.REACT,
    ),
    endpoint(NATIVE, f"{PATH}/actions", list_actions, scope=Scope.READ, doc=docs.LIST),
]
