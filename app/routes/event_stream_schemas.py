"""Parameters and bodies of the live event stream (app/routes/event_stream.py)."""

from __future__ import annotations

from pydantic import Field, field_validator

from app.errors import ApiError
from app.events import EVENT_TYPES
from app.routes.apidoc import INSTANCE_NUMBER_MAX, Model, Omitted
from app.routes.queries import Query

SEQ_MAX = 2**62
LIMIT_MAX = 1_000_000
MAX_S_MAX = 7 * 86400


def event_types(value: str) -> frozenset[str]:
    """'message.received,message.sent' -> those types; an unknown one is a 400."""
    asked = {part.strip() for part in value.split(",") if part.strip()}
    unknown = sorted(asked - set(EVENT_TYPES))
    if unknown or not asked:
        raise ApiError(
            "invalid_field",
            f"'types' has unknown event type(s) {unknown}; known: {', '.join(EVENT_TYPES)}",
        )
    return frozenset(asked)


class StreamQuery(Query):
    after: int | Omitted = Field(
        None,
        ge=0,
        le=SEQ_MAX,
        description="Replay the events after this seq, then go on live. Without it (and "
        "without Last-Event-ID) the stream starts live: only events committed from now on.",
    )
    types: str | Omitted = Field(
        None,
        max_length=1000,
        description="Only these event types, comma-separated (e.g. "
        "'message.received,message.sent').",
    )
    instance: int | Omitted = Field(
        None,
        ge=1,
        le=INSTANCE_NUMBER_MAX,
        description="Only this gateway instance's events (events of no instance are left out too).",
    )
    max_s: float | Omitted = Field(
        None,
        gt=0,
        le=MAX_S_MAX,
        allow_inf_nan=False,
        description="End the stream after this many seconds (never later than [event_stream] "
        "max_connection_s).",
    )
    limit: int | Omitted = Field(
        None, ge=1, le=LIMIT_MAX, description="End the stream after this many events."
    )

    @field_validator("types")
    @classmethod
    def _types(cls, value: str | None) -> str | None:
        if value is not None:
            event_types(value)
        return value


class StreamHeaders(Model):
    last_event_id: str | Omitted = Field(
        None,
        alias="Last-Event-ID",
        max_length=20,
        description="The seq of the last event received (EventSource sends it when it "
        "reconnects): the stream replays from there. It wins over 'after'.",
    )


def last_event_id(value: str | None) -> int | None:
    """The Last-Event-ID header as a seq (None: absent or empty)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) > SEQ_MAX:
        raise ApiError(
            "invalid_field", f"Last-Event-ID must be an event seq (0 to {SEQ_MAX}): {value!r}"
        )
    return int(text)


class ServerSentEvent(Model):
    """One event of the stream as Server-Sent Events (comment lines, the heartbeats, aside)."""

    id: str | Omitted = Field(
        None,
        description="The event's seq (what Last-Event-ID takes); absent on the last frame and "
        "on `pruned`.",
    )
    event: str = Field(
        description="The event type; on the last frame `dropped` or `end` (see StreamEnd); "
        "`pruned` (see StreamPruned) before the first event after a gap retention made."
    )
    data: str = Field(
        description="The event's JSON body, as GET /api/v1/events shows it (Event); on the last "
        "frame a StreamEnd; on `pruned` a StreamPruned."
    )


class StreamEnd(Model):
    """The last thing a stream sends: why it ends, and where to resume."""

    reason: str = Field(
        description="slow_reader (fell [event_stream] max_buffered_events behind), shutdown "
        "(the gateway stops), limit, max_s, or max_connection_s."
    )
    resume_after: int = Field(
        ge=0, description="Reconnect with this as Last-Event-ID or 'after': nothing is lost."
    )


class StreamPruned(Model):
    """Sent (SSE `event: pruned`, or a WebSocket text frame) when the stream replays from a
    seq older than what retention left of the event log: the events after it through
    `pruned_through` were deleted ([retention] events_days) and the stream goes on from the
    oldest event left. Sent once, before that event (or before the next heartbeat if none is
    left); a stream that starts live, or after a seq at or above the watermark, never gets
    it."""

    type: str = Field("pruned", description="Always `pruned`.")
    pruned_through: int = Field(
        ge=1, description="The highest seq retention deleted: events up to it may be missing."
    )
