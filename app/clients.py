"""API clients: random secrets shown once, stored as SHA-256 hashes.

A client secret is 32 random bytes, so a fast hash is enough (as for Stripe or GitHub keys):
nothing can be guessed from it, and the 1,000-requests-a-second path stays cheap.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.client_limits import Grant, Limits, grant_of, limits_of, store
from app.db import Database
from app.errors import ApiError
from app.models import ApiClient
from app.timestamps import iso, iso_or_none
from app.vocabulary import ClientState

log = logging.getLogger(__name__)

# `last_used_at` is written at most this often per client and process.
LAST_USED_EVERY_S = 60.0

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")


def new_secret() -> str:
    return secrets.token_hex(16)  # 32 hex characters, like WhatsMate's secrets


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


@dataclass(frozen=True)
class ClientView:
    client_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    limits: Limits = field(default_factory=Limits)
    last_used_at: datetime | None = None

    def state(self, now: datetime) -> ClientState:
        if self.revoked_at is not None:
            return ClientState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return ClientState.EXPIRED
        return ClientState.ACTIVE

    def as_dict(self, now: datetime) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "created_at": iso(self.created_at),
            "expires_at": iso_or_none(self.expires_at),
            "revoked_at": iso_or_none(self.revoked_at),
            "state": self.state(now),
            "scopes": list(self.limits.scopes) if self.limits.scopes is not None else None,
            "instances": list(self.limits.instances) if self.limits.instances is not None else None,
            "daily_quota": self.limits.daily_quota,
            "ip_allow": list(self.limits.ip_allow) if self.limits.ip_allow is not None else None,
            "last_used_at": iso_or_none(self.last_used_at),
        }


def _view(row: ApiClient) -> ClientView:
    return ClientView(
        row.client_id,
        row.created_at,
        row.expires_at,
        row.revoked_at,
        limits_of(row),
        row.last_used_at,
    )


def validate_client_id(client_id: str) -> str:
    client_id = client_id.strip()
    if not CLIENT_ID_RE.match(client_id) or len(client_id) > 254:
        raise ApiError(
            "invalid_field", f"client_id must look like an e-mail address, got {client_id!r}"
        )
    return client_id


async def _get(session: AsyncSession, client_id: str) -> ApiClient:
    row = await session.scalar(select(ApiClient).where(col(ApiClient.client_id) == client_id))
    if row is None:
        raise ApiError("not_found", f"no API client {client_id!r}")
    return row


async def create_client(
    session: AsyncSession,
    client_id: str,
    expires_at: datetime | None,
    now: datetime,
    limits: Limits | None = None,
) -> tuple[ClientView, str]:
    """A new client and its secret; `limits` None: every scope and instance, any address."""
    client_id = validate_client_id(client_id)
    if expires_at is not None and expires_at <= now:
        raise ApiError("invalid_field", "expires_at must be in the future")
    existing = await session.scalar(select(ApiClient).where(col(ApiClient.client_id) == client_id))
    if existing is not None:
        raise ApiError("conflict", f"API client {client_id!r} exists already; rotate or renew it")
    secret = new_secret()
    row = ApiClient(
        client_id=client_id, secret_hash=hash_secret(secret), created_at=now, expires_at=expires_at
    )
    store(row, limits or Limits())
    session.add(row)
    await session.flush()
    return _view(row), secret


async def list_clients(session: AsyncSession) -> list[ClientView]:
    rows = await session.scalars(select(ApiClient).order_by(col(ApiClient.client_id)))
    return [_view(r) for r in rows]


async def get_client(session: AsyncSession, client_id: str) -> ClientView:
    return _view(await _get(session, client_id))


async def update_client(
    session: AsyncSession,
    client_id: str,
    limits: Limits,
    expires_at: datetime | None,
    now: datetime,
    *,
    set_expiry: bool = False,
) -> ClientView:
    """Give the client these limits (the secret stays); its expiry too when `set_expiry`."""
    row = await _get(session, client_id)
    if set_expiry:
        if expires_at is not None and expires_at <= now:
            raise ApiError("invalid_field", "expires_at must be in the future")
        row.expires_at = expires_at
    store(row, limits)
    return _view(row)


async def renew_client(
    session: AsyncSession, client_id: str, expires_at: datetime | None, now: datetime
) -> ClientView:
    """Extend the expiry; the client id and secret stay the same (FAQ)."""
    row = await _get(session, client_id)
    if expires_at is not None and expires_at <= now:
        raise ApiError("invalid_field", "expires_at must be in the future")
    row.expires_at = expires_at
    row.revoked_at = None
    return _view(row)


async def rotate_client(session: AsyncSession, client_id: str, now: datetime) -> str:
    row = await _get(session, client_id)
    secret = new_secret()
    row.secret_hash = hash_secret(secret)
    row.rotated_at = now
    return secret


async def revoke_client(session: AsyncSession, client_id: str, now: datetime) -> ClientView:
    row = await _get(session, client_id)
    row.revoked_at = now
    return _view(row)


def verify(row: ApiClient | None, client_id: str, secret: str, now: datetime) -> str:
    """The client id if `secret` is right for `row` and the client is usable (401/474 else)."""
    # Compare even for an unknown id, so timing does not tell which ids exist.
    stored = row.secret_hash if row is not None else hash_secret("")
    if not secret_matches(secret, stored) or row is None:
        raise ApiError("invalid_credentials", "Invalid CLIENT ID / Secret")
    if row.revoked_at is not None:
        raise ApiError("invalid_credentials", f"CLIENT ID {row.client_id} has been revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise ApiError(
            "client_expired",
            f"CLIENT ID {row.client_id} expired on {iso(row.expires_at)}; renew it",
        )
    return row.client_id


def _require_headers(client_id: str | None, secret: str | None) -> tuple[str, str]:
    if not client_id:
        raise ApiError("missing_credentials", "Missing X-WM-CLIENT-ID header")
    if not secret:
        raise ApiError("missing_credentials", "Missing X-WM-CLIENT-SECRET header")
    return client_id.strip(), secret


async def authenticate(
    session: AsyncSession, client_id: str | None, secret: str | None, now: datetime
) -> str:
    """The client id for valid credentials; ApiError 401/474 otherwise."""
    client_id, secret = _require_headers(client_id, secret)
    row = await session.scalar(select(ApiClient).where(col(ApiClient.client_id) == client_id))
    return verify(row, client_id, secret, now)


class ClientCache:
    """Client records kept for a few seconds, so that authenticating costs no query.

    The secret is still checked (against the stored hash) on every request, and expiry against
    the clock. Changes made through this process (admin API) take effect at once; changes made
    by another process (`tgw clients revoke`, `tgw clients update`) within `ttl_s` seconds.
    A record's limits are parsed once, when it is fetched (`Grant`).

    Each client's `last_used_at` is written in the background, at most once every
    `LAST_USED_EVERY_S` seconds per client in this process: the request does not wait for it.
    """

    def __init__(
        self,
        database: Database,
        clock: Callable[[], datetime],
        ttl_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._clock = clock
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, ApiClient | None, Grant | None]] = {}
        self._written: dict[str, float] = {}  # client id -> when last_used_at was last written
        self._writes: set[asyncio.Task[None]] = set()

    async def authenticate(self, client_id: str | None, secret: str | None) -> Grant:
        client_id, secret = _require_headers(client_id, secret)
        entry = self._entries.get(client_id)
        now_mono = self._monotonic()
        if entry is None or entry[0] <= now_mono:
            async with self._database.factory() as session:
                row = await session.scalar(
                    select(ApiClient).where(col(ApiClient.client_id) == client_id)
                )
            if len(self._entries) > 10_000:
                self._entries.clear()  # many unknown ids: start over rather than grow
            entry = (now_mono + self._ttl_s, row, grant_of(row) if row is not None else None)
            self._entries[client_id] = entry
        now = self._clock()
        verify(entry[1], client_id, secret, now)
        grant = entry[2]
        assert grant is not None  # verify refused an unknown id
        self._note_use(grant.client_id, now, now_mono)
        return grant

    def _note_use(self, client_id: str, now: datetime, now_mono: float) -> None:
        last = self._written.get(client_id)
        if last is not None and now_mono - last < LAST_USED_EVERY_S:
            return
        if len(self._written) > 10_000:
            self._written.clear()
        self._written[client_id] = now_mono
        task = asyncio.get_running_loop().create_task(self._write_last_used(client_id, now))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_last_used(self, client_id: str, now: datetime) -> None:
        try:
            async with self._database.write() as session:
                await session.execute(
                    update(ApiClient)
                    .where(col(ApiClient.client_id) == client_id)
                    .values(last_used_at=now)
                )
        except Exception:  # a bookkeeping write: the request it follows was answered already
            log.warning("could not record the last use of API client %s", client_id, exc_info=True)

    async def settle(self) -> None:
        """Wait for the last_used_at writes under way (tests; shutting down)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    def invalidate(self, client_id: str | None = None) -> None:
        if client_id is None:
            self._entries.clear()
        else:
            self._entries.pop(client_id.strip(), None)
