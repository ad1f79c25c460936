"""Retention: the tables must not grow without bound (`[retention]` settings).

A background job (job.py) deletes, every `interval_s`, what is old and final, in small
batches (each its own short transaction, with a pause between them, so no lock is held long):

- webhook deliveries delivered more than `delivered_deliveries_days` ago, and dead ones that
  died more than `dead_deliveries_days` ago, with their attempts; pending and delivering ones
  never;
- outbound messages in a final state (sent, read, failed) and finished actions (edit, delete,
  reaction: done or failed, each by its own age) created more than `messages_days` ago, and
  their media blob once no remaining message uses it; queued or sending ones never;
- the media bytes of inbound messages received more than `inbound_media_days` ago (the rows,
  with their text, stay: they are the conversations' history);
- idempotency keys older than `idempotency_hours`; resolved alerts older than `alerts_days`;
  console sign-outs past their expiry;
- events older than `events_days`, never past a reader's position (events.py); the highest
  seq deleted is recorded for the readers that resume from below it (watermark.py);
- the records of Telegram's updates that keep a replay from being reported twice (message
  deletions, reactions, login alerts) and the quotas' old daily counts (records.py).

Only `app.models` tables are read and written here (rules.py, events.py); the readers'
tables (webhook endpoints, the callback cursor, pull queues) are only read.
"""

from __future__ import annotations

from app.retention.job import RETENTION_TABLES, RetentionJob
from app.retention.sizes import SIZED_TABLES, table_rows

__all__ = ["RETENTION_TABLES", "SIZED_TABLES", "RetentionJob", "table_rows"]
