"""Queue control: cancelling a send (a message, or an edit, deletion or reaction) while it is
still queued (native API; outbound/cancel.py says why a cancel and the send worker never both
win), and pausing or resuming an instance's send queue (admin)."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from app.routes import admin_schemas, messages_schemas
from app.routes.admin import instance_view
from app.routes.admin_docs import TAG_INSTANCES
from app.routes.apidoc import Answer, Doc, Model, Uuid
from app.routes.common import JSON, instance_number, services
from app.routes.instance_limits import require_message_instance
from app.routes.message_actions import render_action
from app.routes.message_actions_schemas import Action
from app.routes.messages import TAG_MESSAGES, render_message
from app.routes.surface import endpoint
from app.routes.surfaces import ADMIN, NATIVE, client_id
from app.vocabulary import Scope
from outbound.cancel import cancel_queued
from outbound.queue_pause import set_queue_paused


class ActionPath(Model):
    id: Uuid = Field(description="Id of the message the action acts on.")
    action_id: Uuid = Field(description="Action id.")


async def cancel_message(request: Request) -> Response:
    svc = services(request)
    await require_message_instance(request, request.path_params["id"])
    row = await cancel_queued(
        svc.database, request.path_params["id"], client_id(request), svc.clock()
    )
    return JSON(render_message(row))


async def cancel_action(request: Request) -> Response:
    svc = services(request)
    await require_message_instance(request, request.path_params["id"])
    # The action's path names its message: an action of another message is not found either.
    row = await cancel_queued(
        svc.database,
        request.path_params["action_id"],
        client_id(request),
        svc.clock(),
        action_of=request.path_params["id"],
    )
    return JSON(render_action(row))


async def _set_paused(request: Request, paused: bool) -> Response:
    """Pause or resume the instance's send queue; doing it twice is the same as once."""
    svc = services(request)
    number = instance_number(request.path_params["n"])
    inst = await set_queue_paused(svc.database, number, paused, svc.clock())
    if not paused:
        svc.wakeup.notify(f"send:{number}")  # the worker looks now, not at its next poll
    return JSON(await instance_view(request, inst))


async def pause_queue(request: Request) -> Response:
    return await _set_paused(request, True)


async def resume_queue(request: Request) -> Response:
    return await _set_paused(request, False)


def _queue_doc(operation: str, summary: str, description: str) -> Doc:
    return Doc(
        operation,
        TAG_INSTANCES,
        summary,
        description,
        {200: Answer("The instance (its queue says paused).", admin_schemas.Instance)},
        errors=(401, 404),
        error_texts={404: "No such instance."},
        path=admin_schemas.InstancePath,
    )


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
        scope=Scope.SEND,
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
        scope=Scope.SEND,
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
    endpoint(
        ADMIN,
        "/admin/instances/{n:str}/queue/pause",
        pause_queue,
        methods=["POST"],
        doc=_queue_doc(
            "pauseQueue",
            "Pause an instance's send queue",
            "The send worker sends nothing for this instance (messages, edits, deletions and "
            "reactions stay queued) until resumed. Sends are still accepted, and queued messages "
            "still expire after `[sending] message_ttl_s`. Kept in the database: a restart "
            "keeps the pause. Pausing a paused queue changes nothing.",
        ),
    ),
    endpoint(
        ADMIN,
        "/admin/instances/{n:str}/queue/resume",
        resume_queue,
        methods=["POST"],
        doc=_queue_doc(
            "resumeQueue",
            "Resume an instance's send queue",
            "End a pause made with .../queue/pause: the send worker goes on at once. Resuming "
            "a queue that is not paused changes nothing. (A FloodWait or PEER_FLOOD pause, "
            "`paused_until`, is Telegram's and ends on its own.)",
        ),
    ),
]
