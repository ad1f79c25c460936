"""The admin console's sign-in: a signed, expiring cookie session and its CSRF token.

Signing in with the admin token gives a cookie `v1.<session id>.<expires, unix s>.<mac>`, the
MAC an HMAC-SHA256 under a key derived from the admin token: nothing is stored on the server,
and rotating the admin token ends every session. The cookie is HttpOnly, SameSite=Strict, on
path /admin, Secure over https.

The CSRF token is an HMAC of the session id under the same key (double submit bound to the
session): the page gets it when it signs in (or from GET /admin/session) and sends it as
`X-CSRF-Token` on every request that is not GET or HEAD. Requests with the Bearer token need
none: a browser never adds that header on its own.

Signing out stores the session id, with the cookie's expiry, in the `console_signout` table:
the cookie is refused from then on by every process sharing the database, across restarts,
until it would have expired anyway (then the row is pruned). Wrong admin tokens are counted in
app/lockout.py, shared with Bearer requests. Time comes from the caller (the services' clock).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import SessionFactory
from app.errors import ApiError
from app.models import ConsoleSignout, table_of
from app.sealing import derive_key

SESSION_COOKIE = "tgw_console"
COOKIE_PATH = "/admin"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
KEY_PURPOSE = "console-session"
FORMAT = "v1"


@dataclass(frozen=True)
class ConsoleSession:
    session_id: str
    expires_at: datetime
    csrf_token: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _mac(key: bytes, purpose: str, message: str) -> str:
    return _b64(hmac.new(key, f"{purpose}\0{message}".encode(), hashlib.sha256).digest())


def _session(key: bytes, session_id: str, expires: int) -> ConsoleSession:
    return ConsoleSession(
        session_id=session_id,
        expires_at=datetime.fromtimestamp(expires, UTC),
        csrf_token=_mac(key, "csrf", session_id),
    )


def issue(
    admin_token: str, now: datetime, ttl_s: int = SESSION_TTL_S
) -> tuple[str, ConsoleSession]:
    """A new session: (the cookie value, the session with its CSRF token)."""
    key = derive_key(admin_token, KEY_PURPOSE)
    session_id = secrets.token_urlsafe(18)
    expires = int(now.timestamp()) + ttl_s
    body = f"{FORMAT}.{session_id}.{expires}"
    return f"{body}.{_mac(key, 'session', body)}", _session(key, session_id, expires)


def verify(admin_token: str, cookie: str, now: datetime) -> ConsoleSession | None:
    """The session the cookie holds, or None: malformed, forged, another admin token, expired."""
    parts = cookie.split(".")
    if len(cookie) > 200 or len(parts) != 4 or parts[0] != FORMAT:
        return None
    _, session_id, expires_raw, mac = parts
    if not expires_raw.isdigit() or len(expires_raw) > 12:
        return None
    key = derive_key(admin_token, KEY_PURPOSE)
    expected = _mac(key, "session", f"{FORMAT}.{session_id}.{expires_raw}")
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    expires = int(expires_raw)
    if expires <= now.timestamp():
        return None
    return _session(key, session_id, expires)


def csrf_matches(session: ConsoleSession, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), session.csrf_token.encode())


# --- signing out: for good, in the database -------------------------------------------------


async def is_signed_out(db: AsyncSession, session_id: str) -> bool:
    """Whether this session was signed out (by any process sharing the database).

    A primary-key lookup in a table that holds only the sign-outs of the last `SESSION_TTL_S`:
    cheap enough to ask on every console request, and never stale, so no cache.
    """
    found = await db.execute(
        select(col(ConsoleSignout.session_id)).where(col(ConsoleSignout.session_id) == session_id)
    )
    return found.first() is not None


async def record_sign_out(db: AsyncSession, session: ConsoleSession, now: datetime) -> None:
    """Refuse this session's cookie from now until it would have expired; drop the sign-outs
    whose cookies have expired by themselves (nothing to refuse any more)."""
    await db.execute(delete(ConsoleSignout).where(col(ConsoleSignout.expires_at) <= now))
    row = {"session_id": session.session_id, "expires_at": session.expires_at}
    table = table_of(ConsoleSignout)
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Signed out twice (two tabs, two processes): the first row stands.
    await db.execute(insert(table).values(row).on_conflict_do_nothing())


async def current_session(
    admin_token: str, cookie: str | None, now: datetime, factory: SessionFactory
) -> ConsoleSession | None:
    """The valid, not signed-out session of this cookie, or None."""
    if not cookie:
        return None
    session = verify(admin_token, cookie, now)
    if session is None:  # a forged cookie costs no database read
        return None
    async with factory() as db:
        if await is_signed_out(db, session.session_id):
            return None
    return session


async def require_session(
    admin_token: str,
    cookie: str | None,
    method: str,
    csrf_header: str | None,
    now: datetime,
    factory: SessionFactory,
) -> ConsoleSession:
    """The request's console session; 401 without a valid one, 403 `csrf` without its token."""
    session = await current_session(admin_token, cookie, now, factory)
    if session is None:
        raise ApiError(
            "unauthorized",
            "The console session has ended (expired, signed out, or the admin token changed): "
            "sign in again",
        )
    if method.upper() not in SAFE_METHODS and not csrf_matches(session, csrf_header):
        raise ApiError(
            "csrf",
            f"The {CSRF_HEADER} header is missing or does not match this console session; "
            "reload the console",
        )
    return session
