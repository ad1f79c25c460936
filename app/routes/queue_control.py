"""Native API (/api/v1): cancelling a send (a message, or an edit, deletion or reaction) while
it is still queued. outbound/cancel.py says why a cancel and the send worker never both win."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from app.routes import messages_schemas
from app.routes.apidoc import Answer, Doc, Model, Uuid
from app.routes.common import JSON, services
from app.routes.message_actions import render_action
from app.routes.message_actions_schemas import Action
from app.routes.messages import TAG_MESSAGES, render_message
from app.routes.surface import endpoint
from app.routes.surfaces import NATIVE, client_id
from outbound.cancel import cancel_queued


class ActionPath(Model):
    id: Uuid = Field(description="Id of the message the action acts on.")
    action_id: Uuid = Field(description="Action id.")


async def cancel_message(request: Request) -> Response:
    svc = services(request)
    row = await cancel_queued(
        svc.database, request.path_params["id"], client_id(request), svc.clock()
    )
    return JSON(render_message(row))


async def cancel_action(request: Request) -> Response:
    svc = services(request)
    # The action's path names its message: an action of another message is not found either.
    row = await cancel_queued(
        svc.database,
        request.path_params["action_id"],
        client_id(request),
        svc.clock(),
        action_of=request.path_params["id"],
    )
    return JSON(render_action(row))


NOT_QUEUED = (
    "not_cancellable: it is no longer queued (the message says its status: sending, sent, read "
    "or failed)."
)

routes = [
    endpoint(
        NATIVE,
        "/api/v1/messages/{id:str}/cancel",
        cancel_message,
        methods=["POST"],
        doc=Doc(
            "cancelMessage",
            TAG_MESSAGES,
            "Cancel a queued message",
            "Stop a message the send worker has not taken yet: it ends `failed` with "
            "`error_code` `cancelled`, and a `message.failed` event is written. A message the "
            "worker already took is sent (or fails) as usual: a message is either sent or "
            "cancelled, never both.",
            {200: Answer("Cancelled: the message.", messages_schemas.Message)},
            errors=(401, 404, 409, 474),
            error_texts={404: "No such message for this client.", 409: NOT_QUEUED},
            path=messages_schemas.MessagePath,
        ),
    ),
    endpoint(
        NATIVE,
        "/api/v1/messages/{id:str}/actions/{action_id:str}/cancel",
        cancel_action,
        methods=["POST"],
        doc=Doc(
            "cancelAction",
            TAG_MESSAGES,
            "Cancel a queued edit, deletion or reaction",
            "Stop an action the send worker has not made yet: it ends `failed` with "
            "`error_code` `cancelled` (no event: nothing changed in Telegram).",
            {200: Answer("Cancelled: the action.", Action)},
            errors=(401, 404, 409, 474),
            error_texts={404: "No such action of this message for this client.", 409: NOT_QUEUED},
            path=ActionPath,
        ),
    ),
]
