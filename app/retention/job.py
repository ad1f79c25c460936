"""RetentionJob: runs the retention rules every `interval_s`, batch by batch.

Each batch is its own short write transaction (`Database.run`, behind the writes clients wait
on), with `pause_s` between batches, so the job never holds a lock for long and leaves room to
the send and delivery workers. `run_once(now)` is one full pass, driven by tests with their own
clock; `run()` is the lifespan's task.

Several processes may share a database: on PostgreSQL each batch first takes a
transaction-scoped advisory lock without waiting, and a process that does not get it ends its
pass (another one is at it); on SQLite writers take turns anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.db import Database
from app.errors import DatabaseUnavailable
from app.retention import records, rules
from app.retention.events import old_events
from app.retention.rules import Batch
from app.settings import RetentionSettings

log = logging.getLogger(__name__)

# What the job deletes from (the keys of `run_once`'s answer, the metric's labels).
RETENTION_TABLES = (
    "webhook_delivery",
    "delivery_attempt",
    "message",
    "media_blob",
    "idempotency_record",
    "event",
    "alert",
    "console_signout",
    "message_deletion",
    "inbound_reaction",
    "login_alert",
    "daily_usage",
    "client_daily_usage",
)
# Any constant works; the same in every process of the deployment (app/events.py has another).
LOCK_KEY = 0x7467770002
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:k)")
# The first pass comes this long after start (at most `interval_s`): starting is busy enough.
FIRST_PASS_AFTER_S = 60.0

Step = Callable[[Connection], Batch | None]
Rule = Callable[[Connection, datetime, int], Batch]


def _days(value: float | None) -> timedelta | None:
    """A retention period; None when the rule is off (0 or unset)."""
    return timedelta(days=value) if value else None


class RetentionJob:
    def __init__(
        self,
        database: Database,
        settings: RetentionSettings,
        clock: Callable[[], datetime],
        *,
        on_deleted: Callable[[str, int], None] | None = None,
    ) -> None:
        self._db = database
        self.settings = settings
        self._clock = clock
        # Told every batch's deletions (the metrics counter).
        self._on_deleted = on_deleted

    async def run(self) -> None:
        """Passes until cancelled; a failed pass is logged and the next one tries again."""
        await asyncio.sleep(min(FIRST_PASS_AFTER_S, self.settings.interval_s))
        while True:
            try:
                deleted = await self.run_once()
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable as exc:
                log.warning("retention: the database is unavailable (%s); next pass later", exc)
            except Exception:
                log.exception("retention: the pass failed; next pass later")
            else:
                if any(deleted.values()):
                    log.info("retention: deleted %s", {k: v for k, v in deleted.items() if v})
            await asyncio.sleep(self.settings.interval_s)

    async def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """One pass of every rule that is on, as of `now`; the rows deleted per table."""
        now = self._clock() if now is None else now
        totals = dict.fromkeys(RETENTION_TABLES, 0)
        for step in self._steps(now):
            while True:
                batch = await self._db.run(self._exclusive(step))
                if batch is None:  # another process holds the job's lock
                    return totals
                for table, count in batch.deleted.items():
                    totals[table] += count
                    if count and self._on_deleted is not None:
                        self._on_deleted(table, count)
                if not batch.more:
                    break
                await asyncio.sleep(self.settings.pause_s)
        return totals

    def _steps(self, now: datetime) -> list[Step]:
        conf = self.settings
        limit = conf.batch_size
        steps: list[Step] = []

        def add(period: timedelta | None, rule: Rule) -> None:
            if period is not None:
                cutoff = now - period
                steps.append(lambda conn: rule(conn, cutoff, limit))

        add(_days(conf.delivered_deliveries_days), rules.delivered_deliveries)
        add(_days(conf.dead_deliveries_days), rules.dead_deliveries)
        # Before the events: a delivery gone no longer holds its event.
        events = _days(conf.events_days)
        if events is not None:
            steps.append(_EventSteps(now, now - events, limit))
        add(_days(conf.messages_days), rules.messages)
        add(_days(conf.inbound_media_days), rules.inbound_media)
        hours = conf.idempotency_hours
        add(timedelta(hours=hours) if hours else None, rules.idempotency_keys)
        add(_days(conf.alerts_days), rules.alerts)
        add(timedelta(0), rules.console_signouts)  # past expiry: always
        replays = _days(conf.replay_records_days)
        add(replays, records.message_deletions)
        add(replays, records.cleared_reactions)
        add(replays, records.login_alerts)
        add(_days(conf.reactions_days), records.reactions)
        add(_days(conf.usage_days), records.usage)
        return steps

    def _exclusive(self, step: Step) -> Step:
        def work(conn: Connection) -> Batch | None:
            postgres = conn.dialect.name == "postgresql"
            if postgres and not conn.execute(_TRY_LOCK, {"k": LOCK_KEY}).scalar():
                return None
            return step(conn)

        return work


class _EventSteps:
    """The event rule's batches, each going on after the last seq the one before looked at
    (events a reader or a delivery holds are not looked at again in the same pass)."""

    def __init__(self, now: datetime, cutoff: datetime, limit: int) -> None:
        self._now = now
        self._cutoff = cutoff
        self._limit = limit
        self._after = 0

    def __call__(self, conn: Connection) -> Batch:
        # An endpoint disabled for longer than the events' retention no longer holds them.
        batch, self._after = old_events(
            conn, self._cutoff, self._cutoff, self._after, self._limit, self._now
        )
        return batch
