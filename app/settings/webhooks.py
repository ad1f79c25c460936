"""[[webhooks]] and [webhook_delivery]: where events go and how they are delivered."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from app.settings.base import _Section


class WebhookSettings(_Section):
    url: str
    # whsec_ + base64 of 24 to 64 bytes; generated once if absent. Kept out of reprs (logs).
    secret: str | None = Field(default=None, repr=False)
    events: list[str] | None = None  # None: every event type
    # "whatsmate": message.received only, in the hosted WhatsMate gateway's body
    # (inbound/webhooks/formats.py).
    format: Literal["standard", "whatsmate"] = "standard"
    # WhatsMate's `token`, a string the receiver compares; 256 characters at most, as the
    # admin API allows (inbound/webhooks/formats.py).
    token: str | None = Field(default=None, min_length=1, max_length=256, repr=False)

    @field_validator("token")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must not hold control characters")
        return value

    @model_validator(mode="after")
    def _whatsmate_events(self) -> WebhookSettings:
        # A whatsmate endpoint gets message.received only: another filter would be a promise
        # that is not kept (the admin API refuses it the same way).
        if self.format == "whatsmate" and self.events not in (None, ["message.received"]):
            raise ValueError(
                'format = "whatsmate" receives message.received only: leave `events` out or '
                'set it to ["message.received"]'
            )
        return self

    @field_validator("url")
    @classmethod
    def check_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("secret")
    @classmethod
    def check_secret(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import base64
        import binascii

        if not value.startswith("whsec_"):
            raise ValueError("must start with 'whsec_'")
        try:
            size = len(base64.b64decode(value[6:], validate=True))
        except (binascii.Error, ValueError) as exc:
            raise ValueError("must be 'whsec_' followed by standard base64") from exc
        if not 24 <= size <= 64:
            raise ValueError(f"must hold 24 to 64 bytes once decoded (holds {size})")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str] | None) -> list[str] | None:
        from app.events import EVENT_TYPES

        if value is None:
            return None
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {list(EVENT_TYPES)}")
        if not value:
            raise ValueError("is empty; leave it out for every event type")
        return value


class WebhookDeliverySettings(_Section):
    allow_private_targets: bool = False
    timeout_s: float = Field(default=15, gt=0)
    retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )

    @field_validator("retry_schedule_s")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(step < 0 for step in value):
            raise ValueError("delays must be 0 or more seconds")
        return value
