"""The documentation of the operator alerts admin API (app/routes/alerts.py)."""

from __future__ import annotations

from app.routes import alerts_schemas as models
from app.routes.apidoc import Answer as Reply
from app.routes.apidoc import Body, Doc, Outgoing
from app.routes.webhooks_docs import TAG_WEBHOOKS
from app.routes.webhooks_schemas import DeliveryHeaders

TAG_ALERTS = "Admin: alerts"
CONFIG_OWNS = "[alerts] url is set in the configuration: change it there."

LIST = Doc(
    "listAlerts",
    TAG_ALERTS,
    "Recent operator alerts",
    "Newest first: unhealthy instances and their recovery, dead webhook deliveries, disabled "
    "webhook endpoints, the daily quota at 80 %, test alerts; each with its delivery to the "
    "alert webhook.",
    {200: Reply("Alerts.", models.AlertList)},
    errors=(400, 401),
    query=models.AlertQuery,
)
GET_WEBHOOK = Doc(
    "getAlertWebhook",
    TAG_ALERTS,
    "The alert webhook",
    "Where alerts are sent, with its signing secret.",
    {200: Reply("The alert webhook.", models.AlertWebhook)},
    errors=(401, 404),
    error_texts={404: "No alert webhook is set."},
)
SET_WEBHOOK = Doc(
    "setAlertWebhook",
    TAG_ALERTS,
    "Set the alert webhook",
    "Creates it (with a generated secret unless one is given) or changes its URL; a new "
    "secret is rotated in (both sign for 24 h). Enables it if it was disabled. Not while "
    "[alerts] url is set in the configuration (409).",
    {200: Reply("The alert webhook.", models.AlertWebhook)},
    errors=(400, 401, 409),
    error_texts={409: CONFIG_OWNS},
    body=Body(models.AlertWebhookBody, "The URL, and optionally the secret."),
)
DELETE_WEBHOOK = Doc(
    "deleteAlertWebhook",
    TAG_ALERTS,
    "Delete the alert webhook",
    "Alerts are still recorded (GET /admin/alerts), no longer sent. Not while [alerts] url "
    "is set in the configuration (409).",
    {200: Reply("Deleted.", models.AlertWebhookDeleted)},
    errors=(401, 404, 409),
    error_texts={404: "No alert webhook is set.", 409: CONFIG_OWNS},
)
TEST = Doc(
    "testAlert",
    TAG_ALERTS,
    "Send a test alert",
    "Records an alert of kind 'test' and queues it for the alert webhook.",
    {202: Reply("Queued.", models.AlertQueued)},
    errors=(401, 409),
    error_texts={409: "No alert webhook is set, or it is disabled."},
)

OUTGOING = (
    Outgoing(
        "alert",
        Doc(
            "webhookAlert",
            TAG_WEBHOOKS,
            "An operator alert (the alert webhook)",
            "Sent to the alert webhook only ([alerts] url or PUT /admin/alerts/webhook).",
            {200: Reply("Any 2xx: delivered; else retried.", media=None)},
            headers=DeliveryHeaders,
            body=Body(models.AlertBody, "The alert."),
            security=(),
        ),
    ),
)
