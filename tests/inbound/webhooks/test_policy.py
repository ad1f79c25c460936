"""The retry policy (pure): schedule with jitter, Retry-After, what a status code means."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from inbound.webhooks.policy import (
    RETRY_AFTER_CAP_S,
    Dead,
    Decision,
    Delivered,
    Disable,
    RetryAt,
    Verdict,
    decide,
    parse_retry_after,
    retry_delay_s,
    verdict,
)

SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_each_delay_is_its_schedule_step_within_20_percent() -> None:
    rng = random.Random(42)
    for failures, step in enumerate(SCHEDULE, start=1):
        delays = [retry_delay_s(SCHEDULE, failures, rng) for _ in range(300)]
        assert all(d is not None and step * 0.8 <= d <= step * 1.2 for d in delays)
        spread = [d for d in delays if d is not None]
        assert max(spread) - min(spread) > step * 0.3  # it really is jittered


def test_after_the_last_step_there_is_no_more_try() -> None:
    rng = random.Random(1)
    assert retry_delay_s(SCHEDULE, len(SCHEDULE), rng) is not None
    assert retry_delay_s(SCHEDULE, len(SCHEDULE) + 1, rng) is None
    assert retry_delay_s([], 1, rng) is None


def test_a_longer_retry_after_is_honoured() -> None:
    delay = retry_delay_s(SCHEDULE, 1, random.Random(1), retry_after_s=120)
    assert delay == 120


def test_a_shorter_retry_after_does_not_shorten_the_schedule() -> None:
    delay = retry_delay_s(SCHEDULE, 2, random.Random(1), retry_after_s=1)
    assert delay is not None and delay >= 300 * 0.8


def test_retry_after_is_bounded_by_the_next_step_and_an_hour() -> None:
    rng = random.Random(1)
    # After the first failure: at most the next step (300 s), not the days asked for.
    assert retry_delay_s(SCHEDULE, 1, rng, retry_after_s=5 * 86400) == 300
    # Later steps: never more than an hour beyond what the schedule says.
    late = retry_delay_s(SCHEDULE, 4, rng, retry_after_s=5 * 86400)
    assert late is not None and late <= max(7200 * 1.2, RETRY_AFTER_CAP_S)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 25 Nov 2026 12:01:00 GMT", 60.0),
        ("Wed, 25 Nov 2026 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
        ("99999999999999999999", 999999999999.0),
    ],
)
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (299, Verdict.DELIVERED),
        (301, Verdict.RETRY),  # redirects are failures, not followed
        (302, Verdict.RETRY),
        (400, Verdict.RETRY),
        (404, Verdict.RETRY),
        (410, Verdict.GONE),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (None, Verdict.RETRY),
    ],
)
def test_what_a_status_means(status: int | None, expected: Verdict) -> None:
    assert verdict(status) is expected


def decision(status_code: int | None, error: str | None = None, attempts: int = 1) -> Decision:
    return decide(
        status_code=status_code,
        error=error,
        attempts=attempts,
        retry_after_s=None,
        schedule_s=SCHEDULE,
        now=NOW,
        rng=random.Random(1),
    )


def test_what_an_attempt_means_for_its_delivery() -> None:
    assert decision(204) == Delivered(204)
    gone = decision(410)
    assert gone == Disable("the receiver answered 410 Gone at 2026-11-25T12:00:00Z", "HTTP 410")
    retry = decision(500)
    assert isinstance(retry, RetryAt) and retry.error == "HTTP 500"
    assert NOW + timedelta(seconds=4) <= retry.at <= NOW + timedelta(seconds=6)
    assert decision(200, error="no answer") == RetryAt(retry.at, "no answer")  # same rng draw
    assert decision(500, attempts=len(SCHEDULE) + 1) == Dead("HTTP 500")
