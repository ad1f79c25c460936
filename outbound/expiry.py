"""A send's own expiry: `ttl_s` (seconds from now) or `expires_at` (a moment), at most the
configured `[sending] message_ttl_s` away. A queued message past it fails as `expired`
(outbound/records.py `expire_stale`), as one queued longer than message_ttl_s does."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.errors import ApiError

# The largest ttl_s the body's schema allows; the configured message_ttl_s bounds it further.
TTL_S_MAX = 366 * 24 * 3600


def ttl_seconds(value: object) -> int | None:
    """A whole number of seconds: a JSON integer, or ASCII digits (a multipart field)."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= TTL_S_MAX:
        raise ApiError("invalid_field", f"'ttl_s' must be an integer between 1 and {TTL_S_MAX}")
    return value


def expiry_of(
    ttl_s: int | None, expires_at: datetime | None, now: datetime, max_ttl_s: int
) -> datetime | None:
    """When the send expires (None: only message_ttl_s applies); 400 when both are given, when
    `expires_at` is not in the future, or when either is further than `max_ttl_s`."""
    if ttl_s is not None and expires_at is not None:
        raise ApiError("invalid_field", "Give 'ttl_s' or 'expires_at', not both")
    if ttl_s is not None:
        if ttl_s > max_ttl_s:
            raise ApiError(
                "invalid_field",
                f"'ttl_s' must be at most {max_ttl_s} (the gateway's message_ttl_s)",
            )
        return now + timedelta(seconds=ttl_s)
    if expires_at is None:
        return None
    if expires_at <= now:
        raise ApiError("invalid_field", "'expires_at' must be in the future")
    if expires_at > now + timedelta(seconds=max_ttl_s):
        raise ApiError(
            "invalid_field",
            f"'expires_at' must be at most {max_ttl_s} s away (the gateway's message_ttl_s)",
        )
    return expires_at
