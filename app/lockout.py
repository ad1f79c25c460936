"""The one check of the admin token, with a per-address record of wrong ones.

Both ways in, `Authorization: Bearer` on /admin and the console's sign-in, share one record per
client address (app/client_address.py): they guess the same secret, so separate budgets would
only double a guesser's. After `MAX_FAILURES` wrong tokens within `WINDOW_S`, wrong tokens from
that address are answered 429 with Retry-After instead of 401.

The right token is never refused, locked address or not: a lockout must not lock the admin
out (a guesser behind the same NAT or proxy could otherwise keep them out for as long as they
like). The token is still compared, in constant time, on every request: that is the only way
to know it is the right one. Be clear about what this costs: while an address is locked, its
guesses are still told apart (429 wrong, 200 right), so the lockout no longer bounds how fast
one address can guess; it cannot, without refusing the admin too. What bounds guessing is the
token itself: the generated one is 32 random bytes (256 bits), far beyond any request rate. A
configured `[security] admin_token` must be as long and random. The lockout remains a signal:
a client that keeps sending wrong tokens is told to stop (Retry-After), and a well-behaved
script that was given an old token backs off instead of hammering.

An IPv6 client is counted by its /64, the block one host or customer is usually given, so that
hopping between addresses of its own block does not reset its count.

Per process, in memory, and bounded (`MAX_TRACKED` addresses, the oldest dropped first). Time
comes from the caller (the services' clock), so the policy is tested without sleeping.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from starlette.datastructures import State

from app.errors import ApiError

MAX_FAILURES = 10  # wrong tokens from one address within WINDOW_S before it is told to wait
WINDOW_S = 300
MAX_TRACKED = 10_000  # addresses remembered at most (oldest dropped first)
IPV6_BLOCK = 64


def limit_key(address: str) -> str:
    """What failures are counted on: the IPv4 address, or the /64 of an IPv6 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_BLOCK), strict=False))
    return str(ip)


@dataclass
class FailureLimiter:
    """Wrong admin tokens per counting key: at most `max_failures` within `window_s`."""

    max_failures: int = MAX_FAILURES
    window_s: float = WINDOW_S
    max_tracked: int = MAX_TRACKED
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now_s: float) -> deque[float]:
        times = self.failures.get(key, deque())
        while times and times[0] <= now_s - self.window_s:
            times.popleft()
        return times

    def retry_after_s(self, key: str, now: datetime) -> int | None:
        """Seconds before wrong tokens from this key are answered 401 again, or None."""
        now_s = now.timestamp()
        times = self._recent(key, now_s)
        if not times:
            self.failures.pop(key, None)
            return None
        if len(times) < self.max_failures:
            return None
        return max(1, int(times[0] + self.window_s - now_s + 0.999))

    def failed(self, key: str, now: datetime) -> None:
        now_s = now.timestamp()
        times = self._recent(key, now_s)
        times.append(now_s)
        self.failures.pop(key, None)
        self.failures[key] = times  # most recent last: the oldest entries go first
        while len(self.failures) > self.max_tracked:
            del self.failures[next(iter(self.failures))]

    def succeeded(self, key: str) -> None:
        self.failures.pop(key, None)


def admin_limiter(app_state: State) -> FailureLimiter:
    """The app's limiter, made on first use (nothing is built at import time)."""
    found = getattr(app_state, "admin_limiter", None)
    if not isinstance(found, FailureLimiter):
        found = FailureLimiter()
        app_state.admin_limiter = found
    return found


def check_admin_token(
    given: str,
    admin_token: str,
    address: str,
    now: datetime,
    limiter: FailureLimiter,
    wrong_message: str = "The admin token is wrong",
) -> None:
    """Return if `given` is the admin token; else 429 while the address is locked, 401 (and
    one more failure counted) otherwise. The right token always passes: see the module doc."""
    right = hmac.compare_digest(given.encode(), admin_token.encode())
    key = limit_key(address)
    if right:
        limiter.succeeded(key)
        return
    wait_s = limiter.retry_after_s(key, now)
    if wait_s is not None:
        # Not counted: the address stays locked until its failures age out of the window.
        raise ApiError(
            "too_many_attempts",
            f"Too many wrong admin tokens from this address: try again in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )
    limiter.failed(key, now)
    raise ApiError("unauthorized", wrong_message)
