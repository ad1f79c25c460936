"""The alert webhook: one `webhook_endpoint` row with source "alerts", set by `[alerts] url` or
by the admin API (PUT /admin/alerts/webhook), and served by the ordinary delivery worker.

Who owns it: with `[alerts] url` in the configuration, the configuration (made to match at
start-up, like `[[webhooks]]`; the admin API may not change or delete it). Without it, the
admin API; an endpoint made from an earlier configuration then stays until deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts.record import ALERTS_SOURCE
from app.models import WebhookEndpoint
from app.settings import Settings
from inbound.webhooks.endpoints import (
    SecretBox,
    create_endpoint,
    rotate_secret,
    set_enabled,
    stored_secret,
)


async def alert_endpoint(session: AsyncSession) -> WebhookEndpoint | None:
    found = await session.scalars(
        select(WebhookEndpoint)
        .where(col(WebhookEndpoint.source) == ALERTS_SOURCE)
        .order_by(col(WebhookEndpoint.created_at))
        .limit(1)
    )
    return found.first()


async def set_alert_webhook(
    session: AsyncSession,
    box: SecretBox,
    *,
    url: str,
    secret: str | None,
    now: datetime,
    enable: bool,
) -> WebhookEndpoint:
    """Make the alert webhook point at `url` (created with a new secret if there is none);
    a given `secret` that differs from the stored one is rotated in (24 h of both).
    `enable`: enable it again if it was disabled."""
    endpoint = await alert_endpoint(session)
    if endpoint is None:
        endpoint, _ = await create_endpoint(
            session, box, url=url, events=None, now=now, source=ALERTS_SOURCE, secret=secret
        )
        return endpoint
    endpoint.url = url
    if secret is not None and stored_secret(box, endpoint) != secret:
        rotate_secret(endpoint, box, now, secret)
    if enable:
        set_enabled(endpoint, True, now, "")
    endpoint.updated_at = now
    return endpoint


async def sync_alert_config(
    session: AsyncSession, settings: Settings, box: SecretBox, now: datetime
) -> None:
    """Make `[alerts] url` (if set) the alert webhook, at start-up."""
    conf = settings.alerts
    if conf.url is not None:
        await set_alert_webhook(
            session, box, url=conf.url, secret=conf.secret, now=now, enable=False
        )
