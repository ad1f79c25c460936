"""The bodies, parameters and answers of the webhook admin API (app/routes/webhooks.py), and the
requests the gateway makes to webhook endpoints, as the OpenAPI document shows them. The bodies
and answers are the models the handlers parse with (`Body`, whose validators are the checks of
inbound/webhooks/endpoints.py) and build answers from (`View`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from app.events import EVENT_TYPES
from app.routes.apidoc import Model, Omitted, Timestamp, one_of
from app.routes.bodies import Body, refusing
from app.routes.views import View
from inbound.webhooks.endpoints import (
    DELIVERY_STATUSES,
    parse_events,
    parse_format,
    parse_secret,
    parse_token,
    parse_url,
)
from inbound.webhooks.formats import FORMATS, STANDARD, TOKEN_MAX_CHARS

EventTypes = Annotated[
    list[Annotated[str, Field(json_schema_extra=one_of(EVENT_TYPES))]], Field(min_length=1)
]
EVENTS = "Event types; null: every type."
URL = "http(s) URL; private and loopback targets are refused unless allow_private_targets."
SECRET = "Signing secret: 'whsec_' + base64 of 24 to 64 bytes."
FORMAT = (
    "Body shape: 'standard' (the Event schema, every subscribed type) or 'whatsmate' "
    "(message.received only, as WhatsmateInbound; its `events` must be null or "
    '["message.received"]).'
)
TOKEN = (
    "WhatsMate's `token`: a string the receiver compares, sent in the whatsmate body; stored "
    "encrypted; null: none."
)
Url = Annotated[str, Field(max_length=2048, json_schema_extra={"format": "uri"})]
Secret = Annotated[str, Field(pattern="^whsec_")]
Token = Annotated[str, Field(min_length=1, max_length=TOKEN_MAX_CHARS)]
Format = Annotated[str, Field(json_schema_extra=one_of(FORMATS))]


def _secret_or_none(value: Any) -> str | None:
    return None if value is None else parse_secret(value)


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("bool_type", "Input should be a valid boolean")
    return value


# What a body may hold, checked as inbound/webhooks/endpoints.py checks it (the shape of the
# URL here; whether its host is private needs DNS: the handler asks check_target).
# A field given as null is checked too (and refused) where only leaving it out is optional.
CheckedUrl = Annotated[Url, BeforeValidator(refusing(parse_url))]
CheckedEvents = Annotated[EventTypes | None, BeforeValidator(refusing(parse_events))]
CheckedFormat = Annotated[Format, BeforeValidator(refusing(parse_format))]
UrlChange = Annotated[Url | Omitted, BeforeValidator(refusing(parse_url))]
FormatChange = Annotated[Format | Omitted, BeforeValidator(refusing(parse_format))]
CheckedToken = Annotated[Token | None, BeforeValidator(refusing(parse_token))]

# --- endpoints --------------------------------------------------------------------------------


class DeliveryCounts(View):
    pending: int = Field(ge=0, description="Deliveries pending.")
    delivering: int = Field(ge=0, description="Deliveries delivering.")
    delivered: int = Field(ge=0, description="Deliveries delivered.")
    dead: int = Field(ge=0, description="Deliveries dead.")


class WebhookEndpoint(View):
    """A webhook endpoint."""

    id: str = Field(description="Endpoint id (ep_...).")
    url: Url = Field(description=URL)
    format: Format = Field(STANDARD, description=FORMAT)
    events: EventTypes | None = Field(description=EVENTS)
    token_set: bool | Omitted = Field(
        None, description="Whether a token is set (its value: GET /admin/webhooks/{id})."
    )
    enabled: bool = Field(description="Whether deliveries go out.")
    status: Literal["enabled", "disabled"] = Field(description="enabled or disabled.")
    disabled_reason: str | None = Field(
        None, description="Why it is disabled (a 410, the admin, the config)."
    )
    disabled_at: Timestamp | None = Field(None, description="When it was disabled.")
    source: Literal["api", "config", "callback", "alerts"] = Field(
        description="Where it comes from: the admin API, the config, a client's sends "
        "(callback_url; such an endpoint is changed only through its client), or 'alerts': "
        "the alert webhook (/admin/alerts/webhook)."
    )
    previous_secret_until: Timestamp | None = Field(
        None, description="During a rotation: until when the old secret also signs."
    )
    last_seq: int | Omitted = Field(None, ge=0, description="Fan-out position in the event log.")
    created_at: Timestamp = Field(description="Created.")
    updated_at: Timestamp | Omitted = Field(None, description="Last changed.")
    deliveries: DeliveryCounts | Omitted = None


class WebhookEndpointWithSecret(WebhookEndpoint):
    """An endpoint, its secret and its token."""

    secret: Secret | None = Field(
        description=SECRET + " Null (GET) when the stored one does not open: see secret_problem."
    )
    token: Token | None = Field(None, description=TOKEN)
    secret_problem: str | Omitted = Field(
        None, description="Why the stored secret does not open (GET); rotate it."
    )
    token_problem: str | Omitted = Field(
        None, description="Why the stored token does not open (GET); set it again."
    )


class WebhookEndpointList(View):
    data: list[WebhookEndpoint] = Field(description="Endpoints, oldest first.")


# The fields in the order they are checked: the first refusal is the one answered.
class NewWebhookBody(Body):
    url: CheckedUrl = Field(description=URL)
    events: CheckedEvents = Field(None, description=EVENTS)
    # null: generate one, as when it is left out.
    secret: Annotated[Secret | Omitted, BeforeValidator(refusing(_secret_or_none))] = Field(
        None, description=SECRET
    )
    format: CheckedFormat = Field(STANDARD, description=FORMAT)
    token: CheckedToken = Field(None, description=TOKEN)


# Only the fields given change (`model_fields_set`).
class WebhookChanges(Body):
    url: UrlChange = Field(None, description=URL)
    events: CheckedEvents = Field(None, description=EVENTS)
    enabled: Annotated[bool | Omitted, BeforeValidator(_not_null)] = Field(
        None, description="Deliver (true) or hold (false)."
    )
    format: FormatChange = Field(None, description=FORMAT)
    token: CheckedToken = Field(None, description=TOKEN)


class WebhookPath(Model):
    id: str = Field(description="The endpoint id (ep_...).")


class WebhookDeleted(View):
    id: str = Field(description="Endpoint id.")
    deleted: bool = Field(description="Always true.")


class RotatedSecret(View):
    id: str = Field(description="Endpoint id.")
    secret: Secret = Field(description=SECRET)
    previous_secret_until: Timestamp = Field(description="The old secret signs until.")


class TestQueued(View):
    delivery_id: int = Field(description="Delivery id.")
    event: dict[str, Any] = Field(description="The body sent.")


# --- deliveries -------------------------------------------------------------------------------


class DeliveryAttempt(View):
    attempted_at: Timestamp = Field(description="When.")
    status_code: int | None = Field(description="HTTP status; null: no answer.")
    latency_ms: int = Field(ge=0, description="Time to the answer (or the failure).")
    response_excerpt: str | None = Field(None, description="First 1 KiB of the response body.")
    error: str | None = Field(None, description="Timeout, connection error, refused target...")


class WebhookDelivery(View):
    id: int = Field(description="Delivery id.")
    endpoint_id: str = Field(description="Endpoint id.")
    event_id: str = Field(description="Event id: the webhook-id header, the same on every try.")
    event_type: str | Omitted = Field(None, description="Event type (or webhook.test).")
    event_seq: int | None = Field(None, description="The event's seq; null for a test event.")
    conversation: str | None = Field(None, description="Ordering key: instance and number.")
    status: str = Field(description="Delivery state.", json_schema_extra=one_of(DELIVERY_STATUSES))
    attempts: int = Field(ge=0, description="Tries in this run of the schedule.")
    next_attempt_at: Timestamp | None = Field(None, description="Next try, while pending.")
    last_status_code: int | None = Field(None, description="Last HTTP status.")
    last_error: str | None = Field(None, description="Last failure.")
    created_at: Timestamp | Omitted = Field(None, description="Created.")
    delivered_at: Timestamp | None = Field(None, description="When a 2xx came back.")
    attempt_log: list[DeliveryAttempt] = Field(description="Every attempt, oldest first.")


class WebhookDeliveryList(View):
    data: list[WebhookDelivery] = Field(description="Deliveries, newest first.")
    next_before: int | None = Field(description="Pass as 'before' for older ones; null: no more.")


class DeliveryQuery(Model):
    status: Literal[DELIVERY_STATUSES] | Omitted = Field(  # type: ignore[valid-type]
        None, description="Only deliveries in this state."
    )
    before: int | Omitted = Field(
        None, ge=0, le=2**62, description="The 'next_before' of the last page."
    )
    limit: int = Field(50, ge=1, le=500, description="Page size.")


class DeliveryPath(Model):
    id: int = Field(description="The delivery id.")


# --- what the gateway sends -------------------------------------------------------------------


class DeliveryHeaders(Model):
    webhook_id: str = Field(
        alias="webhook-id",
        description="The event id, the same on every retry: deduplicate on it.",
    )
    webhook_timestamp: str = Field(
        alias="webhook-timestamp", description="Unix seconds of this attempt."
    )
    webhook_signature: str = Field(
        alias="webhook-signature",
        description="v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>.",
    )


class WhatsmateInbound(Model):
    """The body a 'whatsmate' endpoint gets for message.received (the hosted WhatsMate
    gateway's inbound webhook); signed like every delivery."""

    token: Token | None = Field(description=TOKEN)
    type: Literal["individual", "group"] = Field(
        description="The chat: 'individual', or 'group' for a group message."
    )
    instance_id: str = Field(description="Gateway instance number, as a string.")
    gateway_number: str | None = Field(description="The gateway account's number (digits).")
    number: str = Field(description="The sender's number (digits).")
    message: str = Field(description="The text, or the caption of a medium ('' if none).")
