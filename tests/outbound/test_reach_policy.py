"""What sends teach about reaching a person (outbound/reach_facts.py) and how a number's
answer is made from its recipient row (outbound/reach.py): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.models import Recipient
from app.telegram.port import UserPeer
from outbound.claims import Claimed
from outbound.outcomes import Failed, Retry, Sent
from outbound.reach import answer_for
from outbound.reach_facts import learned

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def claimed(user_id: int | None) -> Claimed:
    row: Any = object()
    return Claimed(row=row, peer=UserPeer(user_id, 1) if user_id is not None else None)


def recipient(**fields: Any) -> Recipient:
    values: dict[str, Any] = {
        "instance": 1,
        "user_id": 7,
        "number": "34612345678",
        "status": "registered",
        "created_at": NOW - timedelta(days=1),
        "registered_at": NOW - timedelta(days=1),
    }
    return Recipient(**(values | fields))


def test_the_last_send_to_a_person_in_a_batch_tells() -> None:
    results = [
        (claimed(7), Failed("user_blocked", "USER_IS_BLOCKED")),
        (claimed(7), Sent(1, NOW)),
        (claimed(8), Sent(2, NOW)),
        (claimed(8), Failed("paid_messages_required", "ALLOW_PAYMENT_REQUIRED_5")),
    ]
    facts = learned(results)
    assert facts[7][0] == "ok"
    assert facts[8] == (
        "paid_messages_required",
        "a send failed with paid_messages_required: ALLOW_PAYMENT_REQUIRED_5",
    )


def test_group_sends_retries_and_other_failures_teach_nothing() -> None:
    results = [
        (claimed(None), Failed("user_blocked", None)),
        (claimed(7), Retry(NOW, "RPC_CALL_FAIL")),
        (claimed(8), Failed("message_rejected", "too long")),
        (claimed(9), Failed("privacy_restricted", None)),
    ]
    assert learned(results) == {}


def test_a_fact_older_than_the_registration_no_longer_counts() -> None:
    row = recipient(
        reachability="blocked",
        reachability_checked_at=NOW - timedelta(hours=2),
        registered_at=NOW - timedelta(hours=1),
    )
    assert answer_for(row.number or "", row, NOW).reachability == "unknown"


def test_telegram_saying_nothing_leaves_the_stored_fact() -> None:
    row = recipient(
        reachability="premium_required",
        reachability_checked_at=NOW - timedelta(hours=3),
        reachability_detail="Telegram says they take messages only from Premium accounts",
    )
    answer = answer_for(row.number or "", row, NOW, "unknown", "Telegram could not be asked")
    assert (answer.reachability, answer.source) == ("premium_required", "stored")
    assert answer.checked_at == NOW - timedelta(hours=3)
    assert "not asked again: Telegram could not be asked" in answer.detail


def test_telegram_overrules_an_older_stored_answer() -> None:
    row = recipient(
        reachability="premium_required", reachability_checked_at=NOW - timedelta(hours=3)
    )
    answer = answer_for(row.number or "", row, NOW, "ok")
    assert (answer.reachability, answer.source, answer.checked_at) == (
        "registered",
        "telegram",
        NOW,
    )
