"""[alerts]: where operator alerts are sent (app/alerts/)."""

from __future__ import annotations

from pydantic import Field, field_validator

from app.settings.base import _Section
from app.settings.webhooks import WebhookSettings


class AlertSettings(_Section):
    # The alert webhook; set here, it is managed by the configuration (the admin API's
    # PUT/DELETE /admin/alerts/webhook answer 409). None: the admin API manages it.
    url: str | None = None
    # whsec_ + base64 of 24 to 64 bytes; generated once if absent. Kept out of reprs (logs).
    secret: str | None = Field(default=None, repr=False)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else WebhookSettings.check_url(value)

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: str | None) -> str | None:
        return WebhookSettings.check_secret(value)
