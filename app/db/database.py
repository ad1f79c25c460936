"""`Database`: the one object the rest of the gateway talks to for storage.

It hides how each backend is tuned: on SQLite a dedicated writer thread, a second engine whose
commits do not wait for the disk (synchronous=NORMAL) for background writers, and the
`WriteLock` on which this process's writers take turns; on PostgreSQL one pooled engine.

- `read()`: a session for reads (on SQLite it never takes the write lock);
- `write()`: one ORM unit of work, committed when the block ends;
- `run(work, urgent=...)`: a function of SQLAlchemy Core statements on a sync `Connection`, run
  as one write transaction off the event loop. `urgent` is for writes a client waits on (an
  accepted send's 200 waits for the disk); the others (the send worker, the sandbox, webhook
  rounds) go behind them and, on SQLite, commit without waiting for fsync -- still safe
  across a crash of the process, and made durable by the next urgent commit.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.engines import (
    OnEvents,
    SessionFactory,
    SyncWork,
    check_ready,
    create_engine,
    create_session_factory,
    is_sqlite,
    transaction,
)
from app.db.outages import SQLITE_LOCK_WAIT_S
from app.db.runner import SqlRunner
from app.db.write_lock import WriteLock

T = TypeVar("T")


@dataclass
class Database:
    url: str
    engine: AsyncEngine
    # Sessions of `engine` (ORM work; on SQLite plain sessions only read).
    factory: SessionFactory
    # Sessions for background writers (the sandbox): relaxed durability on SQLite.
    background_factory: SessionFactory
    # Core units of work: `urgent` ones first and durable at once; background ones after.
    urgent_sql: SqlRunner
    background_sql: SqlRunner
    # SQLite: the one write lock of the database file (it also knows when writes are refused).
    write_lock: WriteLock | None = None
    _extra_engines: list[AsyncEngine] = field(default_factory=list)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for reading; nothing it does is committed."""
        return self.factory()

    def write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """One ORM unit of work: committed when the block ends, rolled back if it raises."""
        return transaction(self.factory)

    async def run(self, work: SyncWork[T], *, urgent: bool = False) -> T:
        """`work` (Core statements on a sync Connection) as one write transaction."""
        return await (self.urgent_sql if urgent else self.background_sql).run(work)

    async def checkpoint(self) -> tuple[int, int, int] | None:
        """SQLite: a WAL checkpoint (never inside a commit); PostgreSQL: nothing."""
        return await self.background_sql.checkpoint()

    async def check_ready(self) -> None:
        """Raise DatabaseUnavailable unless the database answers and takes writes."""
        await check_ready(self.engine, self.write_lock)

    async def close(self) -> None:
        runners = {id(r): r for r in (self.urgent_sql, self.background_sql)}
        for runner in runners.values():
            await asyncio.to_thread(runner.close)
        await self.engine.dispose()
        for engine in self._extra_engines:
            await engine.dispose()


def open_database(
    url: str, *, on_events: OnEvents | None = None, lock_wait_s: float = SQLITE_LOCK_WAIT_S
) -> Database:
    """The engines, session factories and runners for `url`.

    `on_events` is called after a unit of work that appended events has committed (the
    webhook worker looks at once). `lock_wait_s`: how long a write waits for another
    process's lock on a SQLite file before it is refused with 503 (tests shorten it).
    """
    engine = create_engine(url, sqlite_busy_timeout_s=lock_wait_s)
    # One writer at a time on a SQLite file: its writers in this process take turns in order.
    write_lock = WriteLock(lock_wait_s) if is_sqlite(url) else None
    factory = create_session_factory(engine, write_lock, on_events=on_events)
    # Accepting API requests: a client waits for each commit, so these writes go first.
    urgent = SqlRunner(
        engine, write_lock, urgent=True, on_events=on_events, busy_timeout_s=lock_wait_s
    )
    database = Database(url, engine, factory, factory, urgent, urgent, write_lock)
    if is_sqlite(url):
        # Commits that need not wait for the disk (synchronous=NORMAL: still safe across a
        # crash of the process, and made durable by the next FULL commit's fsync of the WAL):
        # - the send worker's claims and outcomes: were one lost to a power cut, the message
        #   would go again with its random_id, and Telegram answers RANDOM_ID_DUPLICATE;
        # - the sandbox's simulated Telegram, which stands for a remote system.
        # Accepting a message (the 200) always waits for the disk.
        relaxed = create_engine(url, sqlite_synchronous="NORMAL", sqlite_busy_timeout_s=lock_wait_s)
        database._extra_engines.append(relaxed)
        database.background_factory = create_session_factory(relaxed, write_lock, on_events)
        database.background_sql = SqlRunner(
            relaxed,
            write_lock,
            synchronous="NORMAL",
            on_events=on_events,
            busy_timeout_s=lock_wait_s,
        )
    return database
