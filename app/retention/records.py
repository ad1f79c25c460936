"""The retention rules of the small records Telegram's updates and the quotas leave behind,
each one batch in the caller's transaction (as rules.py):

- `message_deletion` and cleared `inbound_reaction` rows, and `login_alert` records, keep an
  update Telegram replays after a restart (catch-up) from being reported twice: they go
  `replay_records_days` after the deletion, the reaction or the login, long after any
  catch-up. A deletion of a gateway's own message stays while the message does (a replay
  would find it); a person's message keeps its own mark (`inbound_message.deleted_at`);
- reactions still set go `reactions_days` after they were made (a later change of the
  reactions on that message may then report the person's reaction again);
- the daily counts of the quotas (`daily_usage`, `client_daily_usage`) go `usage_days` after
  their day: only today's is read.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, or_, select, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from app.models import (
    ClientDailyUsage,
    DailyUsage,
    InboundReaction,
    LoginAlertRecord,
    Message,
    MessageDeletion,
    table_of,
)
from app.retention.rules import Batch

MD = table_of(MessageDeletion)
R = table_of(InboundReaction)
L = table_of(LoginAlertRecord)
U = table_of(DailyUsage)
CU = table_of(ClientDailyUsage)
M = table_of(Message)

# What a reaction row holds when the person has no reaction left (inbound/changes.py): the
# same as no row at all.
NO_REACTION = "[]"


def message_deletions(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """Deletion records made before `cutoff`; an outbound one only once its message is gone."""
    key = (MD.c.instance, MD.c.channel_id, MD.c.telegram_message_id)
    query = select(*key).where(
        MD.c.deleted_at < cutoff,
        or_(MD.c.direction != "outbound", ~exists().where(M.c.id == MD.c.message_id)),
    )
    keys = [tuple(r) for r in conn.execute(query.limit(limit))]
    if not keys:
        return Batch()
    gone = conn.execute(delete(MD).where(tuple_(*key).in_(keys))).rowcount
    return Batch({"message_deletion": gone}, len(keys) >= limit)


def cleared_reactions(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """Reactions taken back before `cutoff` (a row that says "none" is as good as none)."""
    return _reactions(conn, limit, R.c.reacted_at < cutoff, R.c.emojis == NO_REACTION)


def reactions(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """Every reaction row last changed before `cutoff`."""
    return _reactions(conn, limit, R.c.reacted_at < cutoff)


def _reactions(conn: Connection, limit: int, *where: ColumnElement[bool]) -> Batch:
    key = (R.c.instance, R.c.channel_id, R.c.telegram_message_id, R.c.user_id)
    keys = [tuple(r) for r in conn.execute(select(*key).where(*where).limit(limit))]
    if not keys:
        return Batch()
    gone = conn.execute(delete(R).where(tuple_(*key).in_(keys))).rowcount
    return Batch({"inbound_reaction": gone}, len(keys) >= limit)


def login_alerts(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """Login alert records of logins before `cutoff` (their events pair and dedupe nothing
    any more; GET /admin/instances/{n}/sessions shows the latest ones that are left)."""
    ids = list(conn.execute(select(L.c.id).where(L.c.login_at < cutoff).limit(limit)).scalars())
    if not ids:
        return Batch()
    gone = conn.execute(delete(L).where(L.c.id.in_(ids))).rowcount
    return Batch({"login_alert": gone}, len(ids) >= limit)


def usage(conn: Connection, cutoff: datetime, limit: int) -> Batch:
    """The daily counts of days before `cutoff`'s date (UTC; the quotas' days are in [limits]
    day_timezone, at most 14 hours away, and `usage_days` is at least 2)."""
    day = cutoff.date().isoformat()
    old = list(conn.execute(select(U.c.day).where(U.c.day < day).limit(limit)).scalars())
    days = conn.execute(delete(U).where(U.c.day.in_(old))).rowcount if old else 0
    keys = [
        tuple(r)
        for r in conn.execute(select(CU.c.client_id, CU.c.day).where(CU.c.day < day).limit(limit))
    ]
    clients = 0
    if keys:
        clients = conn.execute(
            delete(CU).where(tuple_(CU.c.client_id, CU.c.day).in_(keys))
        ).rowcount
    more = len(old) >= limit or len(keys) >= limit
    return Batch({"daily_usage": days, "client_daily_usage": clients}, more)
