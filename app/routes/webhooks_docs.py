"""The documentation of the webhook admin API (app/routes/webhooks.py) and of what the gateway
POSTs to webhook endpoints (the OpenAPI `webhooks` section), for the generated document."""

from __future__ import annotations

from app.routes import webhooks_schemas as models
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Body, Doc, Model, Outgoing
from app.routes.messages_schemas import Event

TAG_WEBHOOKS = "Admin: webhooks"
NO_ENDPOINT = {404: "No such endpoint."}


def _endpoint_doc(
    operation_id: str,
    summary: str,
    description: str,
    answer: Reply,
    *,
    status: int = 200,
    errors: tuple[int, ...] = (401, 404),
    body: Body | None = None,
) -> Doc:
    """An operation on one endpoint (/admin/webhooks/{id}...)."""
    return Doc(
        operation_id,
        TAG_WEBHOOKS,
        summary,
        description,
        {status: answer},
        errors=errors,
        error_texts={**NO_ENDPOINT, **({409: CALLBACK_ENDPOINT} if 409 in errors else {})},
        path=models.WebhookPath,
        body=body,
    )


CREATE = Doc(
    "createWebhook",
    TAG_WEBHOOKS,
    "Create a webhook endpoint",
    "It receives the events written from now on. The answer holds its signing secret (also "
    "readable later with GET /admin/webhooks/{id}).",
    {201: Reply("Created.", models.WebhookEndpointWithSecret)},
    errors=(400, 401),
    body=Body(
        models.NewWebhookBody,
        "The endpoint; a secret is generated unless given. Unknown fields, a format other than "
        "standard or whatsmate, and a whatsmate endpoint with an event filter other than null "
        'or ["message.received"] are 400.',
    ),
)
LIST = Doc(
    "listWebhooks",
    TAG_WEBHOOKS,
    "List webhook endpoints",
    "Every endpoint with its state and delivery counts; no secrets.",
    {200: Reply("Endpoints.", models.WebhookEndpointList)},
    errors=(401,),
)
CALLBACK_ENDPOINT = (
    "conflict: a client's callback endpoint (id cb_...), which its client's sends and callback "
    "secret keep; only its deliveries are the admin's to list and replay."
)
GET = _endpoint_doc(
    "getWebhook",
    "Get a webhook endpoint",
    "The endpoint, its delivery counts, its signing secret and its token.",
    Reply("The endpoint.", models.WebhookEndpointWithSecret),
)
UPDATE = _endpoint_doc(
    "updateWebhook",
    "Update a webhook endpoint",
    "Change the URL, the event filter, the format, the token (null removes it), or "
    "enable/disable it. Re-enabling delivers what it missed while disabled. The format and "
    "the filter must go together once changed (400 otherwise). The alert webhook (source "
    "'alerts') takes no events, format or token (409).",
    Reply("The endpoint.", models.WebhookEndpoint),
    errors=(400, 401, 404, 409),
    body=Body(models.WebhookChanges, "The fields to change."),
)
DELETE = _endpoint_doc(
    "deleteWebhook",
    "Delete a webhook endpoint",
    "The endpoint, its deliveries and their attempt log are removed.",
    Reply("Deleted.", models.WebhookDeleted),
    errors=(401, 404, 409),
)
ROTATE_SECRET = _endpoint_doc(
    "rotateWebhookSecret",
    "Rotate the signing secret",
    "A new secret; for 24 h deliveries carry signatures with both the old and the new secret.",
    Reply("The new secret.", models.RotatedSecret),
    errors=(401, 404, 409),
)
DELIVERIES = Doc(
    "listWebhookDeliveries",
    TAG_WEBHOOKS,
    "Deliveries and their attempts",
    "Newest first, each with every attempt (time, status, latency, response excerpt).",
    {200: Reply("Deliveries.", models.WebhookDeliveryList)},
    errors=(400, 401, 404),
    error_texts=NO_ENDPOINT,
    path=models.WebhookPath,
    query=models.DeliveryQuery,
)
TEST = Doc(
    "testWebhook",
    TAG_WEBHOOKS,
    "Send a test event",
    "Queues a signed 'webhook.test' event for this endpoint (whatever its filter); follow it "
    'in the deliveries. A whatsmate endpoint gets {"token", "type": "webhook.test", '
    '"message"}: no number, so nobody is written to.',
    {202: Reply("Queued.", models.TestQueued)},
    errors=(401, 404, 409),
    error_texts={**NO_ENDPOINT, 409: "The endpoint is disabled."},
    path=models.WebhookPath,
)
REPLAY = Doc(
    "replayDelivery",
    TAG_WEBHOOKS,
    "Replay a delivery",
    "Send a delivered or dead delivery again, with the same webhook-id and a fresh run of the "
    "retry schedule; the earlier attempts stay in the log.",
    {200: Reply("Pending again.", models.WebhookDelivery)},
    errors=(401, 404, 409),
    error_texts={
        404: "No such delivery.",
        409: "The delivery is pending already, or its endpoint is disabled.",
    },
    path=models.DeliveryPath,
)


def _outgoing(
    name: str, operation_id: str, summary: str, description: str, body: type[Model]
) -> Outgoing:
    """A POST the gateway makes to an endpoint: signed headers, a JSON body."""
    doc = Doc(
        operation_id,
        TAG_WEBHOOKS,
        summary,
        description,
        {200: Reply("Any 2xx: delivered; else retried.", media=None)},
        headers=models.DeliveryHeaders,
        body=Body(body, "The event."),
        security=(),
    )
    return Outgoing(name, doc)


OUTGOING = (
    _outgoing(
        "event",
        "webhookEvent",
        "An event (format 'standard')",
        "Every subscribed event type. `number` and `message` are at the top level on "
        "message.received only.",
        Event,
    ),
    _outgoing(
        "whatsmateInbound",
        "webhookWhatsmateInbound",
        "A received message (format 'whatsmate')",
        "message.received only, in the hosted WhatsMate gateway's shape.",
        models.WhatsmateInbound,
    ),
)
