"""GET /api/v1/events/stream: the event log, live, as Server-Sent Events or over a WebSocket.

Both transports at the same path take the same parameters and send the same event bodies as
GET /api/v1/events. The stream replays from Last-Event-ID (SSE) or `after`, then goes on live
from the process's shared tail of the event log (inbound/stream/); without either it starts
live, from now. How the transports write events, heartbeats and the end:
app/routes/stream_transport.py.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.errors import ApiError
from app.events import render_stored
from app.json_encoding import dumps
from app.routes import event_stream_schemas as stream_schemas
from app.routes import messages_schemas as schemas
from app.routes.apidoc import Answer, Doc
from app.routes.common import services
from app.routes.error_answers import NativeError
from app.routes.queries import parse_query
from app.routes.stream_transport import (
    Bounds,
    EventStreamResponse,
    Sink,
    pump,
    release_reader,
    reserve_reader,
    serve_websocket,
)
from app.routes.surface import endpoint, handshake_request, websocket_endpoint
from app.routes.surfaces import (
    NATIVE,
    api_client_websocket,
    client_instances,
    require_named_instance,
)
from app.services import Services
from app.vocabulary import Scope
from inbound.stream.events import EventFilter, StreamEvent, limited_to
from inbound.stream.follow import Follower

TAG_EVENTS = "Events"
PATH = "/api/v1/events/stream"


def renderer(svc: Services) -> Callable[[StreamEvent], bytes]:
    """An event's JSON body exactly as GET /api/v1/events shows it."""

    def render(event: StreamEvent) -> bytes:
        body = render_stored(
            type_=event.type,
            id_=event.id,
            seq=event.seq,
            created_at=event.created_at,
            instance=event.instance,
            payload=event.payload,
            media_link=svc.media_links.url,
        )
        return dumps(schemas.Event.model_validate(body))

    return render


def _stream(request: Request, after: int | None) -> tuple[Services, Callable[[], Follower], Bounds]:
    """What a stream needs, from its query: refused (ApiError) before anything is sent.
    `after`: the Last-Event-ID, which wins over the query's `after`."""
    svc = services(request)
    conf = svc.settings.event_stream
    asked = parse_query(stream_schemas.StreamQuery, request.query_params)
    if asked.instance is not None:
        require_named_instance(request, asked.instance)
    allowed = client_instances(request)
    instances, named = limited_to(allowed, asked.instance)
    types = None if asked.types is None else stream_schemas.event_types(asked.types)
    wanted = EventFilter(types=types, instances=instances, named_instance=named)
    start = after if after is not None else asked.after
    bounds = Bounds(
        heartbeat_s=conf.heartbeat_s,
        duration_s=min(asked.max_s or conf.max_connection_s, conf.max_connection_s),
        duration_reason="max_s"
        if asked.max_s is not None and asked.max_s < conf.max_connection_s
        else "max_connection_s",
        limit=asked.limit,
    )
    if not reserve_reader(svc.event_tail, conf.max_readers):
        raise ApiError(
            "too_many_streams",
            f"{conf.max_readers} event streams are open on this server ([event_stream] "
            "max_readers); try again later",
            headers={"Retry-After": "5"},
        )

    def follower() -> Follower:
        return Follower(svc.event_tail, wanted, start, conf.max_buffered_events)

    return svc, follower, bounds


async def stream_events(request: Request) -> Response:
    after = stream_schemas.last_event_id(request.headers.get("last-event-id"))
    svc, follower, bounds = _stream(request, after)
    render = renderer(svc)

    async def run(sink: Sink) -> None:
        await pump(follower(), sink, bounds, render)

    return EventStreamResponse(run, release_reader(svc.event_tail))


async def stream_events_websocket(websocket: WebSocket) -> None:
    svc, follower, bounds = _stream(handshake_request(websocket), None)
    release = release_reader(svc.event_tail)
    render = renderer(svc)
    try:
        await websocket.accept()

        async def run(sink: Sink) -> None:
            await pump(follower(), sink, bounds, render)

        await serve_websocket(websocket, run)
    finally:
        release()


DESCRIPTION = (
    "The event log, live: the same event bodies as GET /api/v1/events, as Server-Sent Events "
    "(`id:` the seq, `event:` the type, `data:` the JSON body). Replays the events after "
    "Last-Event-ID or 'after', then streams new ones as they are committed; without either "
    "it starts live (only events from now on). A comment line `: heartbeat` is sent after "
    "[event_stream] heartbeat_s without an event. The stream ends with `event: dropped` "
    '(data {"reason", "resume_after"}: slow_reader when the reader fell [event_stream] '
    "max_buffered_events behind, shutdown, unavailable) or `event: end` (limit, max_s, "
    "max_connection_s); reconnect with resume_after as Last-Event-ID and nothing is lost. "
    "Replaying from a seq older than what retention left of the log ([retention] "
    "events_days), the stream first sends `event: pruned` (data "
    '{"type":"pruned","pruned_through"}: events through that seq were deleted) and goes on '
    "from the oldest event left. "
    "A WebSocket at the same path takes the same parameters (credentials as headers, or "
    "as the client_id and client_secret query parameters): each event a text frame of its "
    'JSON body, heartbeats the frame {"type":"heartbeat"}, a gap the frame '
    '{"type":"pruned","pruned_through"}, the end a close (4008 '
    "slow_reader, 1012 shutdown, 1011 unavailable, 1000 otherwise) whose reason is "
    '{"reason", "resume_after"}.'
)

routes = [
    endpoint(
        NATIVE,
        PATH,
        stream_events,
        scope=Scope.EVENTS,
        doc=Doc(
            "streamEvents",
            TAG_EVENTS,
            "Stream events live",
            DESCRIPTION,
            {
                200: Answer(
                    "A stream of events (text/event-stream).",
                    stream_schemas.ServerSentEvent,
                    media="text/event-stream",
                ),
                403: Answer(
                    "instance_forbidden: the key is limited to other instances than 'instance'.",
                    NativeError,
                ),
            },
            errors=(400, 401, 404, 474, 503),
            error_texts={
                400: "Bad after, types, instance, max_s, limit or Last-Event-ID.",
                404: "unknown_instance: no such gateway instance.",
                503: "too_many_streams: [event_stream] max_readers streams are open; or the "
                "database is unavailable.",
            },
            query=stream_schemas.StreamQuery,
            headers=stream_schemas.StreamHeaders,
        ),
    ),
    websocket_endpoint(
        NATIVE,
        PATH,
        stream_events_websocket,
        scope=Scope.EVENTS,
        auth=api_client_websocket,
    ),
]
