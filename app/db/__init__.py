"""The database layer: engines and sessions, the SQLite writer thread and its write lock, and
the mapping of driver failures to `DatabaseUnavailable` (a 503, never a 500).

- `database.py`: `Database`, the object the rest of the gateway uses (read, write, run);
- `engines.py`: engines, session factories, `transaction`, readiness;
- `runner.py`: `SqlRunner`, Core units of work on a thread of their own (SQLite) or asyncpg;
- `write_lock.py`: `WriteLock`, one writer at a time on a SQLite file;
- `outages.py`: telling an outage from a bug.

Query functions take a session (or a Connection) and never commit: the caller owns the unit of
work.
"""

from app.db.database import Database, open_database
from app.db.engines import (
    EVENTS_WRITTEN,
    WRITE_OPTION,
    OnEvents,
    SessionFactory,
    SyncWork,
    async_url,
    check_ready,
    configure_sqlite,
    create_engine,
    create_session_factory,
    display_url,
    is_sqlite,
    ping,
    sqlite_path,
    transaction,
)
from app.db.outages import (
    MIN_FREE_BYTES,
    PG_CONNECT_TIMEOUT_S,
    REFUSING_REASONS,
    RETRY_AFTER_S,
    SQLITE_JOURNAL_SIZE_LIMIT,
    SQLITE_LOCK_WAIT_S,
    OutageLog,
    Probe,
    database_unavailable,
    retry_while_unavailable,
    watch_outages,
)
from app.db.runner import SqlRunner
from app.db.write_lock import WriteLock

__all__ = [
    "EVENTS_WRITTEN",
    "MIN_FREE_BYTES",
    "PG_CONNECT_TIMEOUT_S",
    "REFUSING_REASONS",
    "RETRY_AFTER_S",
    "SQLITE_JOURNAL_SIZE_LIMIT",
    "SQLITE_LOCK_WAIT_S",
    "WRITE_OPTION",
    "Database",
    "OnEvents",
    "OutageLog",
    "Probe",
    "SessionFactory",
    "SqlRunner",
    "SyncWork",
    "WriteLock",
    "async_url",
    "check_ready",
    "configure_sqlite",
    "create_engine",
    "create_session_factory",
    "database_unavailable",
    "display_url",
    "is_sqlite",
    "open_database",
    "ping",
    "retry_while_unavailable",
    "sqlite_path",
    "transaction",
    "watch_outages",
]
