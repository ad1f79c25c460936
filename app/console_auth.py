"""The admin console's sign-in: a signed, expiring cookie session and its CSRF token.

Signing in with the admin token gives a cookie `v1.<session id>.<expires, unix s>.<mac>`, the
MAC an HMAC-SHA256 under a key derived from the admin token: nothing is stored on the server,
and rotating the admin token ends every session. The cookie is HttpOnly, SameSite=Strict, on
path /admin, Secure over https.

The CSRF token is an HMAC of the session id under the same key (double submit bound to the
session): the page gets it when it signs in (or from GET /admin/session) and sends it as
`X-CSRF-Token` on every request that is not GET or HEAD. Requests with the Bearer token need
none: a browser never adds that header on its own.

Per process, two small in-memory records: the sessions signed out here (until they expire),
and wrong-token attempts per client address (a lockout after `MAX_FAILURES` in `WINDOW_S`).
Time comes from the caller (the services' clock), so the policy is tested without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from starlette.datastructures import State

from app.errors import ApiError
from app.sealing import derive_key

SESSION_COOKIE = "tgw_console"
COOKIE_PATH = "/admin"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 12 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
KEY_PURPOSE = "console-session"
FORMAT = "v1"

MAX_FAILURES = 10  # wrong tokens from one address within WINDOW_S before it must wait
WINDOW_S = 300
MAX_TRACKED = 10_000  # addresses remembered at most (oldest dropped first)


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


@dataclass
class SignInLimiter:
    """Wrong admin tokens per client address: at most `max_failures` within `window_s`."""

    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    max_tracked: int = MAX_TRACKED
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, address: str, now_s: float) -> deque[float]:
        times = self.failures.get(address, deque())
        while times and times[0] <= now_s - self.window_s:
            times.popleft()
        return times

    def retry_after_s(self, address: str, now: datetime) -> int | None:
        """Seconds this address must wait before it may try again, or None."""
        now_s = now.timestamp()
        times = self._recent(address, now_s)
        if not times:
            self.failures.pop(address, None)
            return None
        if len(times) < self.max_failures:
            return None
        return max(1, int(times[0] + self.window_s - now_s + 0.999))

    def failed(self, address: str, now: datetime) -> None:
        now_s = now.timestamp()
        times = self._recent(address, now_s)
        times.append(now_s)
        self.failures.pop(address, None)
        self.failures[address] = times  # most recent last: the oldest entries go first
        while len(self.failures) > self.max_tracked:
            del self.failures[next(iter(self.failures))]

    def succeeded(self, address: str) -> None:
        self.failures.pop(address, None)


@dataclass
class ConsoleState:
    """Per-process memory of the console: sessions signed out here, and the sign-in limiter."""

    signed_out: dict[str, float] = field(default_factory=dict)  # session id -> its expiry
    limiter: SignInLimiter = field(default_factory=SignInLimiter)

    def sign_out(self, session: ConsoleSession, now: datetime) -> None:
        now_s = now.timestamp()
        for session_id in [s for s, until in self.signed_out.items() if until <= now_s]:
            del self.signed_out[session_id]
        self.signed_out[session.session_id] = session.expires_at.timestamp()

    def is_signed_out(self, session: ConsoleSession) -> bool:
        return session.session_id in self.signed_out


def console_state(app_state: State) -> ConsoleState:
    """The app's ConsoleState, made on first use (nothing is built at import time)."""
    found = getattr(app_state, "console", None)
    if not isinstance(found, ConsoleState):
        found = ConsoleState()
        app_state.console = found
    return found


def current_session(
    admin_token: str, cookie: str | None, now: datetime, app_state: State
) -> ConsoleSession | None:
    """The valid, not signed-out session of this cookie, or None."""
    if not cookie:
        return None
    session = verify(admin_token, cookie, now)
    if session is None or console_state(app_state).is_signed_out(session):
        return None
    return session


def require_session(
    admin_token: str,
    cookie: str | None,
    method: str,
    csrf_header: str | None,
    now: datetime,
    app_state: State,
) -> ConsoleSession:
    """The request's console session; 401 without a valid one, 403 `csrf` without its token."""
    session = current_session(admin_token, cookie, now, app_state)
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
