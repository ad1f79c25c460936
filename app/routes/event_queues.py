"""Native API (/api/v1): pull queues over the event log, with acknowledgement
(inbound/event_queues says how a queue hands out events)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.errors import ApiError
from app.events import render_event
from app.models import EventQueue
from app.routes import event_queues_schemas as schemas
from app.routes.apidoc import Answer, Body, Doc
from app.routes.bodies import parse_body, parse_query
from app.routes.common import JSON, parse_json_object, read_body, services
from app.routes.messages import TAG_EVENTS
from app.routes.messages_schemas import Event
from app.routes.surface import endpoint
from app.routes.surfaces import NATIVE, client_id, client_instances, require_named_instance
from app.timestamps import iso_or_none
from app.vocabulary import Scope
from inbound.event_queues.cursors import (
    QueueSettings,
    create_queue,
    delete_queue,
    find_queue,
    lease_is_live,
    list_queues,
    pending_count,
    settings_of,
)
from inbound.event_queues.leases import ack, next_events

BODY_LIMIT = 64 * 1024
PREFIX = "/api/v1/event-queues"


def queue_view(queue: EventQueue, pending: int, now_live: bool) -> schemas.EventQueue:
    settings = settings_of(queue)
    return schemas.EventQueue(
        name=queue.name,
        types=None if settings.types is None else list(settings.types),
        instance=settings.instance,
        visibility_timeout_s=settings.visibility_timeout_s,
        acked_seq=queue.acked_seq,
        leased_through_seq=queue.leased_through_seq,
        lease_expires_at=iso_or_none(queue.lease_expires_at) if now_live else None,
        pending=pending,
        created_at=iso_or_none(queue.created_at) or "",
    )


async def _view(request: Request, queue: EventQueue) -> schemas.EventQueue:
    svc = services(request)
    async with svc.database.read() as session:
        pending = await pending_count(session, queue, client_instances(request))
    return queue_view(queue, pending, lease_is_live(queue, svc.clock()))


def _check_instance(request: Request, instance: int | None) -> None:
    if instance is not None:
        require_named_instance(request, instance)


async def create(request: Request) -> Response:
    svc = services(request)
    body = parse_body(
        schemas.NewEventQueueBody, parse_json_object(await read_body(request, BODY_LIMIT))
    )
    if body.start is not None and body.after is not None:
        raise ApiError("invalid_field", "Give 'start' or 'after', not both")
    _check_instance(request, body.instance)
    settings = QueueSettings(
        None if body.types is None else tuple(body.types),
        body.instance,
        body.visibility_timeout_s,
    )
    start_after = 0 if body.start == "beginning" else body.after
    queue, created = await create_queue(
        svc.database, client_id(request), body.name, settings, start_after, svc.clock()
    )
    return JSON(await _view(request, queue), status_code=201 if created else 200)


async def list_all(request: Request) -> Response:
    svc = services(request)
    instances = client_instances(request)
    now = svc.clock()
    async with svc.database.read() as session:
        views = [
            queue_view(q, await pending_count(session, q, instances), lease_is_live(q, now))
            for q in await list_queues(session, client_id(request))
        ]
    return JSON(schemas.EventQueueList(data=views))


async def get_one(request: Request) -> Response:
    svc = services(request)
    async with svc.database.read() as session:
        queue = await find_queue(session, client_id(request), request.path_params["name"])
    return JSON(await _view(request, queue))


async def delete(request: Request) -> Response:
    svc = services(request)
    name = request.path_params["name"]
    await delete_queue(svc.database, client_id(request), name)
    return JSON(schemas.EventQueueDeleted(name=name, deleted=True))


async def next_batch(request: Request) -> Response:
    svc = services(request)
    asked = parse_query(schemas.EventQueueNextQuery, request.query_params)
    batch = await next_events(
        svc.database,
        svc.event_feed,
        svc.clock,
        client_id(request),
        request.path_params["name"],
        client_instances(request),
        limit=asked.limit,
        wait_s=asked.wait_s,
        gone=request.is_disconnected,
    )
    data = [Event.model_validate(render_event(e, svc.media_links.url)) for e in batch.events]
    expires = iso_or_none(batch.lease_expires_at)
    return JSON(
        schemas.EventBatch(data=data, lease_expires_at=expires, pruned_through=batch.pruned_through)
    )


async def acknowledge(request: Request) -> Response:
    svc = services(request)
    body = parse_body(schemas.EventAckBody, parse_json_object(await read_body(request, BODY_LIMIT)))
    queue = await ack(svc.database, client_id(request), request.path_params["name"], body.seq)
    return JSON(await _view(request, queue))


NOT_FOUND = "not_found: this client has no queue of that name."
SEMANTICS = (
    " A queue hands out each event at least once, in seq order: events handed out and not "
    "acknowledged within the queue's visibility_timeout_s are handed out again (from the "
    "first one not acknowledged)."
)


def _named(operation: str, summary: str, description: str, answer: Answer) -> Doc:
    """The documentation of an operation on one named queue."""
    return Doc(
        operation,
        TAG_EVENTS,
        summary,
        description,
        {200: answer},
        errors=(401, 404, 474),
        error_texts={404: NOT_FOUND},
        path=schemas.EventQueuePath,
    )


NAME_PATH = f"{PREFIX}/{{name:str}}"
routes = [
    endpoint(
        NATIVE,
        PREFIX,
        create,
        methods=["POST"],
        scope=Scope.EVENTS,
        doc=Doc(
            "createEventQueue",
            TAG_EVENTS,
            "Create a pull queue",
            "A named, durable cursor over the event log for this client, read with .../next "
            "and acknowledged with .../ack. Creating a queue that exists already with the same "
            "types, instance and visibility_timeout_s answers 200 with it, its position "
            "unchanged (start and after apply to a new queue only); with other settings, 409."
            + SEMANTICS,
            {
                201: Answer("Created.", schemas.EventQueue),
                200: Answer("It existed already, with these settings.", schemas.EventQueue),
            },
            errors=(400, 401, 404, 409, 474),
            error_texts={
                400: "A bad name, types, instance, visibility_timeout_s, start or after.",
                404: "unknown_instance: no such gateway instance.",
                409: "conflict: a queue of that name exists with other settings, or the client "
                "has as many queues as it may.",
            },
            body=Body(schemas.NewEventQueueBody, "The queue."),
        ),
    ),
    endpoint(
        NATIVE,
        PREFIX,
        list_all,
        scope=Scope.EVENTS,
        doc=Doc(
            "listEventQueues",
            TAG_EVENTS,
            "List pull queues",
            "This client's queues, by name, with their positions.",
            {200: Answer("The queues.", schemas.EventQueueList)},
            errors=(401, 474),
        ),
    ),
    endpoint(
        NATIVE,
        NAME_PATH,
        get_one,
        scope=Scope.EVENTS,
        doc=_named(
            "getEventQueue",
            "Get a pull queue",
            "The queue's settings and position.",
            Answer("The queue.", schemas.EventQueue),
        ),
    ),
    endpoint(
        NATIVE,
        NAME_PATH,
        delete,
        methods=["DELETE"],
        scope=Scope.EVENTS,
        doc=_named(
            "deleteEventQueue",
            "Delete a pull queue",
            "Forget the queue and its position (the event log itself is unchanged).",
            Answer("Deleted.", schemas.EventQueueDeleted),
        ),
    ),
    endpoint(
        NATIVE,
        f"{NAME_PATH}/next",
        next_batch,
        scope=Scope.EVENTS,
        doc=Doc(
            "nextEvents",
            TAG_EVENTS,
            "Take the next events of a pull queue",
            "Up to `limit` events after the queue's position (its types and instance, and the "
            "instances this key may read), leased for the queue's visibility_timeout_s: no "
            "other `next` gets them while the lease lasts, and each `next` that hands out "
            "events renews it. When there are none, waits up to `wait_s` for one (long poll) "
            "and answers an empty list if none came. When the queue's position is older than "
            "what retention left of the event log ([retention] events_days; a queue created "
            "with start 'beginning' or an old 'after'), `pruned_through` says that events "
            "up to that seq were deleted before the queue handed them out." + SEMANTICS,
            {200: Answer("The events handed out.", schemas.EventBatch)},
            errors=(400, 401, 404, 474),
            error_texts={400: "Bad limit or wait_s.", 404: NOT_FOUND},
            path=schemas.EventQueuePath,
            query=schemas.EventQueueNextQuery,
        ),
    ),
    endpoint(
        NATIVE,
        f"{NAME_PATH}/ack",
        acknowledge,
        methods=["POST"],
        scope=Scope.EVENTS,
        doc=Doc(
            "ackEvents",
            TAG_EVENTS,
            "Acknowledge events of a pull queue",
            "Everything up to `seq` is done: never handed out again. Acknowledging a seq "
            "that is acknowledged already changes nothing (200). An acknowledgement after "
            "the lease expired is still taken if the events were not handed out again since.",
            {200: Answer("The queue, at its new position.", schemas.EventQueue)},
            errors=(400, 401, 404, 409, 474),
            error_texts={
                400: "A bad seq.",
                404: NOT_FOUND,
                409: "ack_beyond_delivered: the queue has not handed out events through that "
                "seq (the message says how far it has).",
            },
            path=schemas.EventQueuePath,
            body=Body(schemas.EventAckBody, "How far the events are done."),
        ),
    ),
]
