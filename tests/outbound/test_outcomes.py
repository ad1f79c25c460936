"""The send outcome classifier (pure): the backend's answer or exception -> a typed outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.telegram.port import (
    AccountBanned,
    AccountFrozen,
    AlreadySent,
    FloodWait,
    MessageRejected,
    NotLoggedIn,
    PeerFlood,
    SentMessage,
    SessionRevoked,
    TransientError,
    UserBlocked,
)
from app.vocabulary import InstanceStatus
from outbound.outcomes import (
    FROZEN_PAUSE,
    PEER_FLOOD_PAUSE,
    Failed,
    Pause,
    Retry,
    Sent,
    classify,
    sent,
)
from outbound.pacing import retry_delay_s

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_sent_message_keeps_its_telegram_id_and_date() -> None:
    assert sent(SentMessage(message_id=42, date=NOW)) == Sent(42, NOW)
    assert sent(SentMessage(message_id=0, date=NOW)) == Sent(None, NOW)


def test_a_duplicate_random_id_counts_as_sent_now() -> None:
    assert classify(AlreadySent(7), NOW, 2) == Sent(7, NOW)
    assert classify(AlreadySent(), NOW, 2) == Sent(None, NOW)


def test_a_flood_wait_pauses_for_its_seconds() -> None:
    outcome = classify(FloodWait(30), NOW, 1)
    assert outcome == Pause(
        InstanceStatus.FLOOD_WAIT, "FloodWait of 30 s", timedelta(seconds=30), "flood_wait: 30"
    )
    assert isinstance(outcome, Pause) and outcome.wait_s == 30


def test_peer_flood_and_frozen_pause_for_their_fixed_time() -> None:
    peer_flood = classify(PeerFlood("limited"), NOW, 1)
    assert isinstance(peer_flood, Pause)
    assert peer_flood.status is InstanceStatus.RESTRICTED
    assert peer_flood.pause_for == PEER_FLOOD_PAUSE and peer_flood.reason == "peer_flood: limited"
    frozen = classify(AccountFrozen("frozen by Telegram"), NOW, 1)
    assert isinstance(frozen, Pause)
    assert frozen.status is InstanceStatus.FROZEN and frozen.pause_for == FROZEN_PAUSE
    assert frozen.detail == "frozen by Telegram. Sending pauses for 6 h, then tries again"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (SessionRevoked("ended elsewhere"), InstanceStatus.REVOKED),
        (AccountBanned("banned"), InstanceStatus.BANNED),
        (NotLoggedIn("no session"), InstanceStatus.LOGGED_OUT),
    ],
)
def test_a_lost_session_holds_the_queue_without_an_end(exc: Exception, status: str) -> None:
    outcome = classify(exc, NOW, 1)
    assert outcome == Pause(InstanceStatus(status), str(exc), None, f"{status}: {exc}")
    assert isinstance(outcome, Pause) and outcome.wait_s is None


def test_recipient_and_message_problems_fail_with_their_code() -> None:
    assert classify(UserBlocked("blocked"), NOW, 1) == Failed("user_blocked", "blocked")
    assert classify(MessageRejected("too long"), NOW, 1) == Failed("message_rejected", "too long")


@pytest.mark.parametrize("exc", [TransientError("down"), TimeoutError(), OSError("reset")])
def test_passing_problems_and_unknown_errors_are_retried_with_backoff(exc: Exception) -> None:
    outcome = classify(exc, NOW, 3)
    assert outcome == Retry(NOW + timedelta(seconds=retry_delay_s(3)), repr(exc))
    assert isinstance(classify(RuntimeError("bug"), NOW, 1), Retry)
