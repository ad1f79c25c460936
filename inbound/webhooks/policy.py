"""What a delivery attempt's outcome means, and when to try again. Pure: no I/O; the clock
and randomness are arguments.

Svix's and the Standard Webhooks guidance: 2xx is success; a redirect is a failure (they are
not followed: a receiver that moved must be updated, not chased); 410 Gone means the receiver
wants no more and the endpoint is disabled; everything else, timeouts and connection errors
included, is retried on the schedule, each delay with +-20 % jitter so that the retries of many
deliveries that failed together (a receiver outage) do not all come back at the same second.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import Enum

from app.timestamps import iso

JITTER = 0.2
# A Retry-After may ask for more than the schedule's next step, but not for ever.
RETRY_AFTER_CAP_S = 3600.0


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"  # 410: disable the endpoint


def verdict(status_code: int | None) -> Verdict:
    """None: no HTTP answer at all (timeout, refused connection, refused target)."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code == 410:
        return Verdict.GONE
    return Verdict.RETRY


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from `now`, from delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value[:12]))  # a huge number is capped later, not overflowed
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_delay_s(
    schedule_s: list[float],
    failed_attempts: int,
    rng: random.Random,
    retry_after_s: float | None = None,
) -> float | None:
    """Seconds until the next try after `failed_attempts` failures; None: that was the last.

    The first try is immediate; after the n-th failure the delay is `schedule_s[n-1]` +-20 %.
    A Retry-After longer than that is honoured, up to the step after next of the schedule and
    at most an hour: a receiver cannot park its events for days.
    """
    if failed_attempts < 1:
        raise ValueError("failed_attempts counts from 1")
    if failed_attempts > len(schedule_s):
        return None
    base = schedule_s[failed_attempts - 1]
    delay = base * rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after_s is not None and retry_after_s > delay:
        steps_ahead = schedule_s[failed_attempts - 1 : failed_attempts + 1]
        bound = min(max(steps_ahead), RETRY_AFTER_CAP_S)
        delay = max(delay, min(retry_after_s, bound))
    return delay


@dataclass(frozen=True)
class Delivered:
    """The receiver took it (2xx)."""

    status_code: int


@dataclass(frozen=True)
class RetryAt:
    """Failed; try again at `at`."""

    at: datetime
    error: str


@dataclass(frozen=True)
class Dead:
    """Failed for the last time: the schedule is exhausted."""

    error: str


@dataclass(frozen=True)
class Disable:
    """410 Gone: the endpoint is disabled for `reason`; the delivery stays pending (with the
    rest) in case the endpoint is enabled again."""

    reason: str
    error: str


Decision = Delivered | RetryAt | Dead | Disable


def decide(
    *,
    status_code: int | None,
    error: str | None,
    attempts: int,
    retry_after_s: float | None,
    schedule_s: list[float],
    now: datetime,
    rng: random.Random,
) -> Decision:
    """What an attempt means for its delivery. `error`: the attempt got no HTTP answer (or an
    unusable one), retried like a failure; `attempts` counts this one."""
    result = verdict(status_code) if error is None else Verdict.RETRY
    if result is Verdict.DELIVERED:
        assert status_code is not None
        return Delivered(status_code)
    error = error or f"HTTP {status_code}"
    if result is Verdict.GONE:
        return Disable(f"the receiver answered 410 Gone at {iso(now)}", error)
    delay = retry_delay_s(schedule_s, attempts, rng, retry_after_s)
    if delay is None:
        return Dead(error)
    return RetryAt(now + timedelta(seconds=delay), error)
