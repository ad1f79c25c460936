"""The quota alert: raised once per quota and day, when what was used crosses 80 % of it.

Generic over quotas: `name` says which one ("deployment" for `[limits] messages_per_day`; a
per-client quota would pass its own name, e.g. "client:<id>"). The check is free unless the
threshold is crossed by this very take, so it runs in the accept transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from app.alerts.record import AlertKind, Severity, raise_alert

THRESHOLD_PERCENT = 80


def crossed(used_before: int, used: int, limit: int) -> bool:
    """`used_before` was under 80 % of `limit` and `used` is at or over it."""
    if limit <= 0:
        return False  # a quota of 0 takes nothing: there is nothing to warn about
    return used_before * 100 < limit * THRESHOLD_PERCENT <= used * 100


def note_quota(
    conn: Connection, name: str, used_before: int, taken: int, limit: int, day: str, now: datetime
) -> None:
    """`taken` more of the quota `name` were used today (`day`, in the quota's time zone):
    raise the alert if that crossed the threshold (once per `name` and `day`)."""
    used = used_before + taken
    if not crossed(used_before, used, limit):
        return
    raise_alert(
        conn,
        kind=AlertKind.QUOTA,
        severity=Severity.WARNING,
        summary=f"Daily quota {name}: {used} of {limit} messages used ({day})",
        detail={
            "quota": name,
            "used": used,
            "limit": limit,
            "day": day,
            "threshold_percent": THRESHOLD_PERCENT,
        },
        now=now,
        condition=f"quota:{name}:{day}",
    )
