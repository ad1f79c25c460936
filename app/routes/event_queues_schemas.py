"""The bodies, parameters and answers of the pull queues (app/routes/event_queues.py), as the
OpenAPI document shows them; the bodies are the models the handlers parse with."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from app.events import EVENT_TYPES
from app.routes.apidoc import INSTANCE_NUMBER_MAX, Model, Omitted, Timestamp, one_of
from app.routes.bodies import Body, refusing
from app.routes.messages_schemas import Event
from app.routes.queries import Query
from app.routes.views import View
from inbound.event_queues.cursors import NAME, PENDING_COUNT_CAP
from inbound.webhooks.endpoints import parse_events

SEQ_MAX = 2**62
VISIBILITY_TIMEOUT_S_MAX = 43_200  # 12 h
WAIT_S_MAX = 60
NAME_TEXT = (
    "The queue's name: 1 to 64 of A-Z a-z 0-9 . _ -, the first a letter or digit; unique among "
    "this client's queues."
)
TYPES = "Only events of these types; null or absent: every type."
INSTANCE = "Only events of this gateway instance; null or absent: every instance."
VISIBILITY = (
    "Seconds the events a `next` hands out stay leased: not acknowledged by then, they are "
    "handed out again."
)

Name = Annotated[str, Field(pattern=f"^{NAME.pattern}$", examples=["billing-worker"])]
EventTypes = Annotated[
    list[Annotated[str, Field(json_schema_extra=one_of(EVENT_TYPES))]], Field(min_length=1)
]
CheckedTypes = Annotated[EventTypes | None, BeforeValidator(refusing(parse_events))]


class NewEventQueueBody(Body):
    name: Name = Field(description=NAME_TEXT)
    types: CheckedTypes = Field(None, description=TYPES)
    instance: Annotated[int, Field(ge=1, le=INSTANCE_NUMBER_MAX)] | None = Field(
        None, description=INSTANCE
    )
    visibility_timeout_s: int = Field(
        30, ge=1, le=VISIBILITY_TIMEOUT_S_MAX, description=f"{VISIBILITY} Default 30."
    )
    start: Literal["now", "beginning"] | Omitted = Field(
        None,
        description="Where a new queue starts: 'now' (the default: events written from now "
        "on) or 'beginning' (the whole event log). Not with `after`. Ignored when the queue "
        "exists already.",
    )
    after: Annotated[int, Field(ge=0, le=SEQ_MAX)] | Omitted = Field(
        None,
        description="A new queue starts after this seq (e.g. the last one a consumer of GET "
        "/api/v1/events has). Not with `start`. Ignored when the queue exists already.",
    )


class EventAckBody(Body):
    seq: int = Field(
        ge=0,
        le=SEQ_MAX,
        description="Everything up to this seq is done (normally the `seq` of the last event of "
        "a batch that was handled).",
    )


class EventQueuePath(Model):
    name: Name = Field(description="The queue's name.")


class EventQueueNextQuery(Query):
    limit: int = Field(100, ge=1, le=1000, description="Most events to hand out.")
    wait_s: int = Field(
        0,
        ge=0,
        le=WAIT_S_MAX,
        description="Seconds to wait for an event when there is none (long poll); 0: answer at "
        "once.",
    )


class EventQueue(View):
    name: str = Field(description=NAME_TEXT)
    types: list[str] | None = Field(description=TYPES)
    instance: int | None = Field(description=INSTANCE)
    visibility_timeout_s: int = Field(description=VISIBILITY)
    acked_seq: int = Field(ge=0, description="Everything up to this seq is acknowledged.")
    leased_through_seq: int = Field(
        ge=0, description="Handed out through this seq (events after acked_seq up to it)."
    )
    lease_expires_at: Timestamp | None = Field(
        description="When the events handed out and not acknowledged are handed out again; null "
        "when none are leased."
    )
    pending: int = Field(
        ge=0,
        description="Events of the queue not acknowledged yet (leased or not), counted up to "
        f"{PENDING_COUNT_CAP}.",
    )
    created_at: Timestamp = Field(description="When the queue was created.")


class EventQueueList(Model):
    data: list[EventQueue] = Field(description="This client's queues, by name.")


class EventBatch(Model):
    data: list[Event] = Field(
        description="Events in seq order, as GET /api/v1/events shows them; empty if none came "
        "within wait_s."
    )
    lease_expires_at: Timestamp | None = Field(
        description="Acknowledge them (POST .../ack with the last seq) before this, or they are "
        "handed out again; null when `data` is empty."
    )
    pruned_through: int | None = Field(
        None,
        ge=1,
        description="Null, unless the queue's position was older than what retention left "
        "of the event log: then events after it through this seq (the highest seq retention "
        "deleted) were deleted without being handed out, and `data` goes on from the oldest "
        "event left. Said once per batch read from such a position.",
    )


class EventQueueDeleted(View):
    name: str = Field(description="The queue's name.")
    deleted: bool = Field(description="Always true.")
