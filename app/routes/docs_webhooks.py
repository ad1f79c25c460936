"""The OpenAPI description of the webhook admin API and the media links (app/routes/webhooks.py,
app/routes/media.py); merged into the document by app/routes/docs.py."""

from __future__ import annotations

from typing import Any

from app.events import EVENT_TYPES
from app.routes.docs import (
    ADMIN_AUTH,
    Schema,
    array,
    body,
    boolean,
    errors,
    integer,
    json_content,
    nullable,
    obj,
    ok,
    operation,
    param,
    ref,
    string,
    timestamp,
)
from inbound.webhooks.endpoints import DELIVERY_STATUSES
from inbound.webhooks.formats import FORMATS, STANDARD, TOKEN_MAX_CHARS

TAG_WEBHOOKS = "Admin: webhooks"
TAG_MEDIA = "Media links"
TAGS = [
    {
        "name": TAG_WEBHOOKS,
        "description": (
            "Admin token: webhook endpoints and their deliveries. Deliveries are signed with "
            "Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature). "
            "An endpoint's `format` picks the body: 'standard' is the Event schema (top-level "
            "`number` and `message` on message.received only, so a WhatsMate-style receiver "
            "that answers every POST cannot loop on the gateway's own message.sent); "
            "'whatsmate' receives message.received only, as the WhatsmateInbound schema (the "
            "hosted WhatsMate gateway's body), with the same signatures, retries and checks."
        ),
    },
    {"name": TAG_MEDIA, "description": "Signed, expiring links to inbound media."},
]

_EVENTS = nullable(
    {
        **array(string("Event type.", enum=list(EVENT_TYPES)), "Event types; null: every type."),
        "minItems": 1,
    }
)
_URL = string(
    "http(s) URL; private and loopback targets are refused unless allow_private_targets.",
    format="uri",
    maxLength=2048,
)
_SECRET = string("Signing secret: 'whsec_' + base64 of 24 to 64 bytes.", pattern="^whsec_")
_FORMAT = string(
    "Body shape: 'standard' (the Event schema, every subscribed type) or 'whatsmate' "
    "(message.received only, as WhatsmateInbound; its `events` must be null or "
    '["message.received"]).',
    enum=list(FORMATS),
    default=STANDARD,
)
_TOKEN = nullable(
    string(
        "WhatsMate's `token`: a string the receiver compares, sent in the whatsmate body; "
        "stored encrypted; null: none.",
        minLength=1,
        maxLength=TOKEN_MAX_CHARS,
    )
)


def schemas() -> dict[str, Schema]:
    counts = obj({s: integer(f"Deliveries {s}.", minimum=0) for s in DELIVERY_STATUSES})
    endpoint = {
        "id": string("Endpoint id (ep_...)."),
        "url": _URL,
        "format": _FORMAT,
        "events": _EVENTS,
        "token_set": boolean("Whether a token is set (its value: GET /admin/webhooks/{id})."),
        "enabled": boolean("Whether deliveries go out."),
        "status": string("enabled or disabled.", enum=["enabled", "disabled"]),
        "disabled_reason": nullable(string("Why it is disabled (a 410, the admin, the config).")),
        "disabled_at": timestamp("When it was disabled.", null=True),
        "source": string("Where it comes from.", enum=["api", "config"]),
        "previous_secret_until": timestamp(
            "During a rotation: until when the old secret also signs.", null=True
        ),
        "last_seq": integer("Fan-out position in the event log.", minimum=0),
        "created_at": timestamp("Created."),
        "updated_at": timestamp("Last changed."),
        "deliveries": counts,
    }
    required = ("id", "url", "events", "enabled", "status", "source", "created_at")
    attempt = obj(
        {
            "attempted_at": timestamp("When."),
            "status_code": nullable(integer("HTTP status; null: no answer.")),
            "latency_ms": integer("Time to the answer (or the failure).", minimum=0),
            "response_excerpt": nullable(string("First 1 KiB of the response body.")),
            "error": nullable(string("Timeout, connection error, refused target...")),
        },
        ("attempted_at", "status_code", "latency_ms"),
    )
    return {
        "WebhookEndpoint": obj(endpoint, required, "A webhook endpoint."),
        "WebhookEndpointWithSecret": obj(
            {**endpoint, "secret": _SECRET, "token": _TOKEN},
            (*required, "secret"),
            "An endpoint, its secret and its token.",
        ),
        "WhatsmateInbound": obj(
            {
                "token": _TOKEN,
                "type": string(
                    "The chat: 'individual', or 'group' for a group message.",
                    enum=["individual", "group"],
                ),
                "instance_id": string("Gateway instance number, as a string."),
                "gateway_number": nullable(string("The gateway account's number (digits).")),
                "number": string("The sender's number (digits)."),
                "message": string("The text, or the caption of a medium ('' if none)."),
            },
            ("token", "type", "instance_id", "gateway_number", "number", "message"),
            "The body a 'whatsmate' endpoint gets for message.received (the hosted WhatsMate "
            "gateway's inbound webhook); signed like every delivery.",
        ),
        "WebhookEndpointList": obj(
            {"data": array(ref("WebhookEndpoint"), "Endpoints, oldest first.")}, ("data",)
        ),
        "WebhookDelivery": obj(
            {
                "id": integer("Delivery id."),
                "endpoint_id": string("Endpoint id."),
                "event_id": string("Event id: the webhook-id header, the same on every try."),
                "event_type": string("Event type (or webhook.test)."),
                "event_seq": nullable(integer("The event's seq; null for a test event.")),
                "conversation": nullable(string("Ordering key: instance and number.")),
                "status": string("Delivery state.", enum=list(DELIVERY_STATUSES)),
                "attempts": integer("Tries in this run of the schedule.", minimum=0),
                "next_attempt_at": timestamp("Next try, while pending.", null=True),
                "last_status_code": nullable(integer("Last HTTP status.")),
                "last_error": nullable(string("Last failure.")),
                "created_at": timestamp("Created."),
                "delivered_at": timestamp("When a 2xx came back.", null=True),
                "attempt_log": array(attempt, "Every attempt, oldest first."),
            },
            ("id", "endpoint_id", "event_id", "status", "attempts", "attempt_log"),
        ),
        "WebhookDeliveryList": obj(
            {
                "data": array(ref("WebhookDelivery"), "Deliveries, newest first."),
                "next_before": nullable(integer("Pass as 'before' for older ones; null: no more.")),
            },
            ("data", "next_before"),
        ),
    }


def outgoing() -> dict[str, Any]:
    """The requests the gateway makes to endpoints, one per format."""
    headers = {
        name: {"description": text, "schema": string(text), "required": True}
        for name, text in (
            ("webhook-id", "The event id, the same on every retry: deduplicate on it."),
            ("webhook-timestamp", "Unix seconds of this attempt."),
            ("webhook-signature", "v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>."),
        )
    }

    def hook(operation_id: str, summary: str, description: str, schema: str) -> dict[str, Any]:
        return {
            "post": {
                "operationId": operation_id,
                "tags": [TAG_WEBHOOKS],
                "summary": summary,
                "description": description,
                "parameters": [{"name": n, "in": "header", **h} for n, h in headers.items()],
                "requestBody": {"required": True, "content": json_content(ref(schema))},
                "responses": {"200": {"description": "Any 2xx: delivered; else retried."}},
            }
        }

    return {
        "event": hook(
            "webhookEvent",
            "An event (format 'standard')",
            "Every subscribed event type. `number` and `message` are at the top level on "
            "message.received only.",
            "Event",
        ),
        "whatsmateInbound": hook(
            "webhookWhatsmateInbound",
            "A received message (format 'whatsmate')",
            "message.received only, in the hosted WhatsMate gateway's shape.",
            "WhatsmateInbound",
        ),
    }


def paths() -> dict[str, Any]:
    endpoint_id = param("id", "path", string("Endpoint id."), "The endpoint id (ep_...).")
    missing = errors("Admin", 401, 404, e404="No such endpoint.")
    return {
        "/admin/webhooks": {
            "post": operation(
                "createWebhook",
                TAG_WEBHOOKS,
                "Create a webhook endpoint",
                "It receives the events written from now on. The answer holds its signing "
                "secret (also readable later with GET /admin/webhooks/{id}).",
                {
                    "201": ok("Created.", ref("WebhookEndpointWithSecret")),
                    **errors("Admin", 400, 401),
                },
                security=ADMIN_AUTH,
                request_body=body(
                    obj(
                        {
                            "url": _URL,
                            "events": _EVENTS,
                            "secret": _SECRET,
                            "format": _FORMAT,
                            "token": _TOKEN,
                        },
                        ("url",),
                    ),
                    "The endpoint; a secret is generated unless given. Unknown fields, a "
                    "format other than standard or whatsmate, and a whatsmate endpoint with "
                    'an event filter other than null or ["message.received"] are 400.',
                ),
            ),
            "get": operation(
                "listWebhooks",
                TAG_WEBHOOKS,
                "List webhook endpoints",
                "Every endpoint with its state and delivery counts; no secrets.",
                {"200": ok("Endpoints.", ref("WebhookEndpointList")), **errors("Admin", 401)},
                security=ADMIN_AUTH,
            ),
        },
        "/admin/webhooks/{id}": {
            "get": operation(
                "getWebhook",
                TAG_WEBHOOKS,
                "Get a webhook endpoint",
                "The endpoint, its delivery counts, its signing secret and its token.",
                {"200": ok("The endpoint.", ref("WebhookEndpointWithSecret")), **missing},
                security=ADMIN_AUTH,
                parameters=[endpoint_id],
            ),
            "patch": operation(
                "updateWebhook",
                TAG_WEBHOOKS,
                "Update a webhook endpoint",
                "Change the URL, the event filter, the format, the token (null removes it), or "
                "enable/disable it. Re-enabling delivers what it missed while disabled. The "
                "format and the filter must go together once changed (400 otherwise).",
                {
                    "200": ok("The endpoint.", ref("WebhookEndpoint")),
                    **errors("Admin", 400),
                    **missing,
                },
                security=ADMIN_AUTH,
                parameters=[endpoint_id],
                request_body=body(
                    obj(
                        {
                            "url": _URL,
                            "events": _EVENTS,
                            "format": _FORMAT,
                            "token": _TOKEN,
                            "enabled": boolean("Deliver (true) or hold (false)."),
                        }
                    ),
                    "The fields to change.",
                ),
            ),
            "delete": operation(
                "deleteWebhook",
                TAG_WEBHOOKS,
                "Delete a webhook endpoint",
                "The endpoint, its deliveries and their attempt log are removed.",
                {
                    "200": ok(
                        "Deleted.",
                        obj(
                            {"id": string("Endpoint id."), "deleted": boolean("Always true.")},
                            ("id", "deleted"),
                        ),
                    ),
                    **missing,
                },
                security=ADMIN_AUTH,
                parameters=[endpoint_id],
            ),
        },
        "/admin/webhooks/{id}/rotate-secret": {
            "post": operation(
                "rotateWebhookSecret",
                TAG_WEBHOOKS,
                "Rotate the signing secret",
                "A new secret; for 24 h deliveries carry signatures with both the old and the "
                "new secret.",
                {
                    "200": ok(
                        "The new secret.",
                        obj(
                            {
                                "id": string("Endpoint id."),
                                "secret": _SECRET,
                                "previous_secret_until": timestamp("The old secret signs until."),
                            },
                            ("id", "secret", "previous_secret_until"),
                        ),
                    ),
                    **missing,
                },
                security=ADMIN_AUTH,
                parameters=[endpoint_id],
            )
        },
        "/admin/webhooks/{id}/deliveries": {
            "get": operation(
                "listWebhookDeliveries",
                TAG_WEBHOOKS,
                "Deliveries and their attempts",
                "Newest first, each with every attempt (time, status, latency, response excerpt).",
                {
                    "200": ok("Deliveries.", ref("WebhookDeliveryList")),
                    **errors("Admin", 400),
                    **missing,
                },
                security=ADMIN_AUTH,
                parameters=[
                    endpoint_id,
                    param(
                        "status",
                        "query",
                        string("Status.", enum=list(DELIVERY_STATUSES)),
                        "Only deliveries in this state.",
                    ),
                    param(
                        "before",
                        "query",
                        integer("Delivery id.", minimum=0),
                        "The 'next_before' of the last page.",
                    ),
                    param(
                        "limit",
                        "query",
                        integer("Page size.", minimum=1, maximum=500, default=50),
                        "Page size.",
                    ),
                ],
            )
        },
        "/admin/webhooks/{id}/test": {
            "post": operation(
                "testWebhook",
                TAG_WEBHOOKS,
                "Send a test event",
                "Queues a signed 'webhook.test' event for this endpoint (whatever its filter); "
                'follow it in the deliveries. A whatsmate endpoint gets {"token", "type": '
                '"webhook.test", "message"}: no number, so nobody is written to.',
                {
                    "202": ok(
                        "Queued.",
                        obj(
                            {
                                "delivery_id": integer("Delivery id."),
                                "event": {"type": "object", "description": "The body sent."},
                            },
                            ("delivery_id", "event"),
                        ),
                    ),
                    **errors("Admin", 409, e409="The endpoint is disabled."),
                    **missing,
                },
                security=ADMIN_AUTH,
                parameters=[endpoint_id],
            )
        },
        "/admin/deliveries/{id}/replay": {
            "post": operation(
                "replayDelivery",
                TAG_WEBHOOKS,
                "Replay a delivery",
                "Send a delivered or dead delivery again, with the same webhook-id and a fresh "
                "run of the retry schedule; the earlier attempts stay in the log.",
                {
                    "200": ok("Pending again.", ref("WebhookDelivery")),
                    **errors(
                        "Admin",
                        409,
                        e409="The delivery is pending already, or its endpoint is disabled.",
                    ),
                    **errors("Admin", 401, 404, e404="No such delivery."),
                },
                security=ADMIN_AUTH,
                parameters=[param("id", "path", integer("Delivery id."), "The delivery id.")],
            )
        },
    }
