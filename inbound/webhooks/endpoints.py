"""Webhook endpoints: create, update, rotate and delete (admin API), and `[[webhooks]]` sync.

Functions take a session and never commit (the caller owns the transaction). URL checks that
resolve names (app/net/targets.py) happen before, outside the transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts.record import ALERTS_SOURCE
from app.errors import ApiError
from app.events import EVENT_TYPES
from app.models import DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint
from app.net.targets import TargetError, check_url_shape
from app.sealing import SealError, derive_key, seal, unseal
from app.settings import Settings
from app.timestamps import iso_or_none
from app.vocabulary import DeliveryStatus, values
from inbound.webhooks.formats import (
    STANDARD,
    WHATSMATE,
    WHATSMATE_EVENTS,
    FormatError,
    check_events_for,
    check_format,
    check_token,
)
from inbound.webhooks.signing import SecretError, new_secret, secret_key_bytes

log = logging.getLogger(__name__)

# How long the old secret keeps signing after a rotation (both signatures are sent meanwhile).
ROTATION_OVERLAP = timedelta(hours=24)
DELIVERY_STATUSES = values(DeliveryStatus)


@dataclass(frozen=True)
class SecretBox:
    """Seals signing secrets at rest under a key derived from the deployment's secret_key."""

    key: bytes

    @classmethod
    def from_secret_key(cls, secret_key: str) -> SecretBox:
        return cls(derive_key(secret_key, "webhook-secret"))

    def seal(self, endpoint_id: str, secret: str) -> bytes:
        return seal(self.key, secret.encode(), _bound(endpoint_id))

    def open(self, endpoint_id: str, blob: bytes) -> str:
        return unseal(self.key, blob, _bound(endpoint_id)).decode()

    # The token is sealed apart from the secret (another binding): one cannot stand in for the
    # other, and the token never shows up where the secret is read.
    def seal_token(self, endpoint_id: str, token: str | None) -> bytes | None:
        if token is None:
            return None
        return seal(self.key, token.encode(), _bound(endpoint_id, "token"))

    def open_token(self, endpoint_id: str, blob: bytes | None) -> str | None:
        if blob is None:
            return None
        return unseal(self.key, blob, _bound(endpoint_id, "token")).decode()


def _bound(endpoint_id: str, what: str = "") -> bytes:
    return f"webhook_endpoint:{endpoint_id}{':' + what if what else ''}".encode()


def parse_events(value: Any) -> list[str] | None:
    """The event filter: null (or absent) for every type, else a non-empty list of known types."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError("invalid_field", "'events' must be a list of event types, or null for all")
    if not value:
        raise ApiError(
            "invalid_field", "'events' is empty: give at least one event type, or null for all"
        )
    unknown = sorted(set(value) - set(EVENT_TYPES))
    if unknown:
        raise ApiError(
            "invalid_field",
            f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}",
        )
    return sorted(set(value), key=EVENT_TYPES.index)


def parse_format(value: Any) -> str:
    try:
        return check_format(value)
    except FormatError as exc:
        raise ApiError("invalid_field", str(exc)) from exc


def parse_token(value: Any) -> str | None:
    try:
        return check_token(value)
    except FormatError as exc:
        raise ApiError("invalid_field", str(exc)) from exc


def check_combination(format_: str, events: list[str] | None) -> None:
    """The endpoint's format and event filter, as they will be once saved, go together."""
    try:
        check_events_for(format_, events)
    except FormatError as exc:
        raise ApiError("invalid_field", str(exc)) from exc


def parse_url(value: Any) -> str:
    """Shape check only (scheme, host, length); the private-target check is async."""
    try:
        check_url_shape(value)
    except TargetError as exc:
        raise ApiError("invalid_field", str(exc)) from exc
    assert isinstance(value, str)
    return value


def parse_secret(value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError("invalid_field", "'secret' must be a string 'whsec_...'")
    try:
        secret_key_bytes(value)
    except SecretError as exc:
        raise ApiError("invalid_field", f"'secret': {exc}") from exc
    return value


def event_filter(endpoint: WebhookEndpoint) -> list[str] | None:
    if endpoint.events is None:
        return None
    found: list[str] = orjson.loads(endpoint.events)
    return found


async def current_seq(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(col(Event.seq)))) or 0)


async def create_endpoint(
    session: AsyncSession,
    box: SecretBox,
    *,
    url: str,
    events: list[str] | None,
    now: datetime,
    source: str = "api",
    secret: str | None = None,
    format_: str = STANDARD,
    token: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint, which receives the events written from now on; returns its secret."""
    endpoint_id = f"ep_{uuid.uuid4().hex[:24]}"
    secret = secret or new_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        url=url,
        secret=box.seal(endpoint_id, secret),
        events=orjson.dumps(events).decode() if events is not None else None,
        format=format_,
        token=box.seal_token(endpoint_id, token),
        enabled=True,
        source=source,
        last_seq=await current_seq(session),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    return endpoint, secret


def set_enabled(endpoint: WebhookEndpoint, enabled: bool, now: datetime, reason: str) -> None:
    if endpoint.enabled == enabled:
        return
    endpoint.enabled = enabled
    endpoint.disabled_reason = None if enabled else reason
    endpoint.disabled_at = None if enabled else now
    endpoint.updated_at = now


def rotate_secret(
    endpoint: WebhookEndpoint, box: SecretBox, now: datetime, secret: str | None = None
) -> str:
    """A new secret; the current one goes on signing beside it for 24 h."""
    secret = secret or new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + ROTATION_OVERLAP
    endpoint.secret = box.seal(endpoint.id, secret)
    endpoint.updated_at = now
    return secret


async def delete_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    deliveries = select(col(WebhookDelivery.id)).where(
        col(WebhookDelivery.endpoint_id) == endpoint.id
    )
    await session.execute(
        delete(DeliveryAttempt).where(col(DeliveryAttempt.delivery_id).in_(deliveries))
    )
    await session.execute(
        delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id)
    )
    await session.delete(endpoint)


async def delivery_counts(session: AsyncSession, endpoint_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(col(WebhookDelivery.status), func.count())
        .where(col(WebhookDelivery.endpoint_id) == endpoint_id)
        .group_by(col(WebhookDelivery.status))
    )
    counts = {status: int(n) for status, n in rows.all()}
    return {status: counts.get(status, 0) for status in DELIVERY_STATUSES}


def endpoint_view(
    endpoint: WebhookEndpoint, now: datetime, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    rotating = endpoint.previous_secret_until is not None and endpoint.previous_secret_until > now
    view: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "format": endpoint.format,
        # What it receives: a whatsmate endpoint gets message.received only, whatever is stored.
        "events": list(WHATSMATE_EVENTS)
        if endpoint.format == WHATSMATE
        else event_filter(endpoint),
        "token_set": endpoint.token is not None,
        "enabled": endpoint.enabled,
        "status": "enabled" if endpoint.enabled else "disabled",
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": iso_or_none(endpoint.disabled_at),
        "source": endpoint.source,
        "previous_secret_until": iso_or_none(endpoint.previous_secret_until) if rotating else None,
        "last_seq": endpoint.last_seq,
        "created_at": iso_or_none(endpoint.created_at),
        "updated_at": iso_or_none(endpoint.updated_at),
    }
    if counts is not None:
        view["deliveries"] = counts
    return view


async def sync_config(
    session: AsyncSession, settings: Settings, box: SecretBox, now: datetime
) -> list[WebhookEndpoint]:
    """Make the `[[webhooks]]` of the config exist, matched by URL.

    A secret given in the config is used (a changed one is rotated in, so receivers get 24 h
    of both signatures); without one, a secret is generated once and kept in the database (read
    it with GET /admin/webhooks/{id}). An endpoint that left the config is disabled, not
    deleted: its delivery log stays readable.
    """
    # A client's hidden callback endpoint (callbacks.py) and the alert webhook
    # (alert_endpoint.py) are never one of the config's, even at the same URL.
    others = select(WebhookEndpoint).where(
        col(WebhookEndpoint.source).not_in(("callback", ALERTS_SOURCE))
    )
    existing = {e.url: e for e in await session.scalars(others)}
    wanted: list[WebhookEndpoint] = []
    for conf in settings.webhooks:
        events = parse_events(conf.events)
        endpoint = existing.get(conf.url)
        if endpoint is None:
            endpoint, _ = await create_endpoint(
                session,
                box,
                url=conf.url,
                events=events,
                now=now,
                source="config",
                secret=conf.secret,
                format_=conf.format,
                token=conf.token,
            )
            existing[conf.url] = endpoint
        else:
            endpoint.source = "config"
            endpoint.events = orjson.dumps(events).decode() if events is not None else None
            endpoint.format = conf.format
            # The config is the source of truth: no `token` there means none.
            if not _token_is(box, endpoint, conf.token):
                endpoint.token = box.seal_token(endpoint.id, conf.token)
            if conf.secret is not None and stored_secret(box, endpoint) != conf.secret:
                rotate_secret(endpoint, box, now, conf.secret)
            if not endpoint.enabled and endpoint.disabled_reason == REMOVED_FROM_CONFIG:
                set_enabled(endpoint, True, now, "")
            endpoint.updated_at = now
        wanted.append(endpoint)
    urls = {conf.url for conf in settings.webhooks}
    for endpoint in existing.values():
        if endpoint.source == "config" and endpoint.url not in urls:
            set_enabled(endpoint, False, now, REMOVED_FROM_CONFIG)
    return wanted


REMOVED_FROM_CONFIG = "removed from the configuration ([[webhooks]])"


def _token_is(box: SecretBox, endpoint: WebhookEndpoint, token: str | None) -> bool:
    try:
        return box.open_token(endpoint.id, endpoint.token) == token
    except SealError:
        return False  # sealed under another secret_key: the config's token replaces it


def stored_secret(box: SecretBox, endpoint: WebhookEndpoint) -> str | None:
    try:
        return box.open(endpoint.id, endpoint.secret)
    except SealError:
        log.warning(
            "webhook %s: its stored secret does not open (secret_key changed?)", endpoint.id
        )
        return None
