"""What sends teach about reaching a person, kept on their recipient row.

A send that fails because of the person (they blocked the account, deleted theirs, take
messages only from Premium accounts or only paid ones) stores that fact; a send that reaches
them clears such a fact. `learned` is pure; `record_reachability` writes it in the batch's
transaction (outbound/records.py), one statement per kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection

from app.models import Recipient, UTCDateTime, table_of
from outbound.claims import Claimed
from outbound.outcomes import Failed, Recorded, Sent

R = table_of(Recipient)

# A failed message's error_code -> the fact it stores (a port Reachability).
FACT_OF_ERROR = {
    "user_blocked": "blocked",
    "user_deactivated": "deactivated",
    "premium_required": "premium_required",
    "paid_messages_required": "paid_messages_required",
}
# The facts against messaging someone that a send reaching them disproves.
AGAINST = tuple(FACT_OF_ERROR.values())
DETAIL_CHARS = 255
REACHED = "a message reached them"

_AT = bindparam("b_at", type_=UTCDateTime())
_FAILED = (
    update(R)
    .where(R.c.instance == bindparam("b_instance"), R.c.user_id == bindparam("b_user"))
    .values(
        reachability=bindparam("b_fact"),
        reachability_detail=bindparam("b_detail"),
        reachability_checked_at=_AT,
    )
)
# Only rows with a fact against them change: most sends write nothing.
_REACHED = (
    update(R)
    .where(
        R.c.instance == bindparam("b_instance"),
        R.c.user_id.in_(bindparam("b_users", expanding=True)),
        R.c.reachability.in_(AGAINST),
    )
    .values(reachability="ok", reachability_detail=REACHED, reachability_checked_at=_AT)
)


def learned(results: Sequence[tuple[Claimed, Recorded]]) -> dict[int, tuple[str, str]]:
    """What a batch's outcomes teach, by user id: (fact, detail). The last send to a person
    in the batch tells; sends to groups and other failures teach nothing."""
    facts: dict[int, tuple[str, str]] = {}
    for message, outcome in results:
        if message.peer is None:
            continue
        user_id = message.peer.user_id
        if isinstance(outcome, Sent):
            facts[user_id] = ("ok", REACHED)
        elif isinstance(outcome, Failed) and outcome.error_code in FACT_OF_ERROR:
            detail = f"a send failed with {outcome.error_code}"
            if outcome.detail:
                detail += f": {outcome.detail}"
            facts[user_id] = (FACT_OF_ERROR[outcome.error_code], detail[:DETAIL_CHARS])
    return facts


def record_reachability(
    conn: Connection,
    results: Sequence[tuple[Claimed, Recorded]],
    now: datetime,
    *,
    instance: int,
) -> None:
    """Store what the batch's sends taught on the recipients' rows."""
    facts = learned(results)
    if not facts:
        return
    reached = [user_id for user_id, (fact, _) in facts.items() if fact == "ok"]
    failed: list[dict[str, Any]] = [
        {"b_instance": instance, "b_user": user_id, "b_fact": fact, "b_detail": detail, "b_at": now}
        for user_id, (fact, detail) in facts.items()
        if fact != "ok"
    ]
    if reached:
        conn.execute(_REACHED, {"b_instance": instance, "b_users": reached, "b_at": now})
    if failed:
        conn.execute(_FAILED, failed)
