"""Row counts of the tables that grow, read when /metrics is scraped (`tgw_table_rows`).

Cheap on every size: SQLite counts (count(*) walks the smallest index); PostgreSQL takes
the planner's estimate (`pg_class.reltuples`, kept by autovacuum) and counts exactly only a
table the estimate puts below `EXACT_BELOW` rows (a count stopped there: never a long scan),
so small tables, and tables never analysed yet, show their true size.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SIZED_TABLES = (
    "event",
    "webhook_delivery",
    "delivery_attempt",
    "message",
    "media_blob",
    "inbound_message",
    "idempotency_record",
    "alert",
    "console_signout",
    "message_deletion",
    "inbound_reaction",
    "login_alert",
    "daily_usage",
    "client_daily_usage",
)
EXACT_BELOW = 100_000

# to_regclass resolves the name on the search_path, as the gateway's own queries do.
_ESTIMATE = text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)")


async def table_rows(session: AsyncSession) -> dict[str, int]:
    """Rows per table of SIZED_TABLES (an estimate on PostgreSQL above EXACT_BELOW)."""
    postgres = (await session.connection()).dialect.name == "postgresql"
    found: dict[str, int] = {}
    for table in SIZED_TABLES:  # names from the constant above, never from input
        if postgres:
            estimate = (await session.execute(_ESTIMATE, {"name": table})).scalar()
            if estimate is not None and estimate >= EXACT_BELOW:
                found[table] = int(estimate)
                continue
            capped = f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT {EXACT_BELOW}) AS t"
            found[table] = int((await session.execute(text(capped))).scalar() or 0)
        else:
            count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            found[table] = int(count or 0)
    return found
