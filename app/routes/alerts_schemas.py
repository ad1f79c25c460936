"""The bodies, parameters and answers of the operator alerts admin API (app/routes/alerts.py),
and the body the alert webhook receives."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from app.alerts.record import AlertKind, Severity
from app.routes.apidoc import Model, Omitted, Timestamp, one_of
from app.routes.bodies import Body, refusing
from app.routes.views import View
from app.routes.webhooks_schemas import (
    SECRET,
    URL,
    CheckedUrl,
    Secret,
    WebhookEndpointWithSecret,
    _secret_or_none,
)
from app.vocabulary import values

Kind = Annotated[str, Field(json_schema_extra=one_of(values(AlertKind)))]
SeverityName = Annotated[str, Field(json_schema_extra=one_of(values(Severity)))]


class AlertDelivery(View):
    id: int = Field(description="The delivery (GET /admin/webhooks/{id}/deliveries).")
    status: str = Field(description="pending, delivering, delivered or dead.")
    attempts: int = Field(ge=0, description="Attempts made.")
    last_error: str | None = Field(None, description="Why the last attempt failed.")
    delivered_at: Timestamp | None = Field(None, description="When a 2xx came back.")


class Alert(View):
    id: int = Field(description="Alert id (the body's alert_id).")
    kind: Kind = Field(description="What happened.")
    severity: SeverityName = Field(description="critical, warning or info.")
    instance: int | None = Field(description="The instance concerned, if one is.")
    summary: str = Field(description="One line for a human.")
    detail: dict[str, Any] = Field(description="The facts, by kind (docs/alerts.md).")
    condition: str | None = Field(
        description="The condition it reports (deduplication key); null: always raised."
    )
    created_at: Timestamp = Field(description="Raised.")
    resolved_at: Timestamp | None = Field(description="When the condition ended, if it has.")
    delivery: AlertDelivery | None = Field(
        description="Its delivery to the alert webhook; null: none was set then (or deleted)."
    )


class AlertList(View):
    data: list[Alert] = Field(description="Alerts, newest first.")
    next_before: int | None = Field(description="Pass as 'before' for older ones; null: no more.")


class AlertQuery(Model):
    before: int | Omitted = Field(
        None, ge=0, le=2**62, description="The 'next_before' of the last page."
    )
    limit: int = Field(50, ge=1, le=500, description="Page size.")


class AlertWebhook(WebhookEndpointWithSecret):
    """The alert webhook (a webhook endpoint with source 'alerts') and its secret."""

    managed_by: Literal["config", "api"] = Field(
        description="'config': [alerts] url is set, and the API may not change it."
    )


class AlertWebhookBody(Body):
    url: CheckedUrl = Field(description=URL)
    # null or absent: keep the current one (a new alert webhook gets a generated one).
    secret: Annotated[Secret | Omitted, BeforeValidator(refusing(_secret_or_none))] = Field(
        None, description=SECRET + " Absent: keep the current one, or generate one."
    )


class AlertWebhookDeleted(View):
    id: str = Field(description="The endpoint that was deleted.")
    deleted: Literal[True] = Field(description="Always true.")


class AlertQueued(View):
    alert: Alert = Field(description="The test alert, queued for the alert webhook.")


# --- what the alert webhook receives ------------------------------------------------------------


class AlertData(Model):
    alert_id: int = Field(description="The alert's id (GET /admin/alerts).")
    kind: Kind = Field(description="What happened.")
    severity: SeverityName = Field(description="critical, warning or info.")
    instance: int | None = Field(description="The instance concerned, if one is.")
    summary: str = Field(description="One line for a human.")
    detail: dict[str, Any] = Field(description="The facts, by kind (docs/alerts.md).")


class AlertBody(Model):
    """The body POSTed to the alert webhook, signed like every webhook (webhook-id:
    'alert_<alert_id>')."""

    type: str = Field(description="'alert.' + the kind, e.g. 'alert.instance.unhealthy'.")
    timestamp: Timestamp = Field(description="When the alert was raised.")
    data: AlertData
