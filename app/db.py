"""Engine and session factory. Query functions take a session and never commit."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


class WriteLock:
    """The turn to write on a SQLite file, for the writers of this process, in order.

    Urgent writers (accepting API requests: a client is waiting) go before the others (the
    send worker, the sandbox, admin changes), who keep their arrival order. Fair among equals,
    and no writer waits in SQLite's busy handler, which retries by sleeping.
    """

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    async def acquire(self, urgent: bool = False) -> None:
        if not self._held and not self._urgent and not self._normal:
            self._held = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._normal).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the turn was handed over just as the waiter gave up
            else:
                (self._urgent if urgent else self._normal).remove(waiter)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the turn passes straight to the next writer
                    return
        self._held = False

    @asynccontextmanager
    async def hold(self, urgent: bool = False) -> AsyncIterator[None]:
        await self.acquire(urgent)
        try:
            yield
        finally:
            self.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


SessionFactory = async_sessionmaker[AsyncSession]
WRITE_OPTION = "tgw_write"
# Set (on a session's or a connection's `info`) by the code that appends to the event log, so
# that the unit of work calls its `on_events` hook after the commit: the webhook worker wakes at
# once instead of at its next poll.
EVENTS_WRITTEN = "tgw_events_written"
OnEvents = Callable[[], None]
T = TypeVar("T")
SyncWork = Callable[[Connection], T]


def async_url(url: str) -> str:
    """Accept the plain URLs users write and pick the async driver for them."""
    parsed = make_url(url)
    driver = parsed.drivername
    if driver == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif driver in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser().resolve()


def create_engine(url: str, *, sqlite_synchronous: str = "FULL", **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    if not is_sqlite(url):
        parsed = make_url(url)
        search_path = parsed.query.get("search_path")
        if search_path:
            # A schema of its own (tests, or several deployments in one database).
            url = parsed.difference_update_query(["search_path"]).render_as_string(False)
            kwargs.setdefault("connect_args", {})["server_settings"] = {
                "search_path": str(search_path)
            }
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)
    # A wait of up to 30 s for the write lock beats failing with "database is locked".
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
    _configure_sqlite(engine, sqlite_synchronous)
    return engine


def _configure_sqlite(engine: AsyncEngine | Engine, synchronous: str) -> None:
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous}")
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE below is the only BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a transaction that committed is on disk, even across a power cut. (NORMAL is
        # for the sandbox's simulated Telegram only: safe across a crash of the process.)
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        # No checkpoint inside a commit: the commit that crosses the threshold would copy the
        # WAL into the database and fsync it while holding the write lock (tens of ms that every
        # waiting request pays). `SqlRunner.checkpoint` does it in the background instead.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Write transactions (see `transaction`) take the write lock up front: a deferred one
        # that reads and then writes fails at once with SQLITE_BUSY when another connection
        # wrote in between, where IMMEDIATE waits (busy_timeout). Plain sessions only read and
        # begin DEFERRED, on a WAL snapshot that never waits for a writer.
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_session_factory(
    engine: AsyncEngine, write_lock: WriteLock | None = None, on_events: OnEvents | None = None
) -> SessionFactory:
    """Sessions for `engine`. On SQLite, pass the one `write_lock` of the database file.

    `on_events` is called after a `transaction` that appended events has committed.
    """
    return async_sessionmaker(
        engine,
        expire_on_commit=False,
        autoflush=False,
        info={"write_lock": write_lock, "on_events": on_events},
    )


def _after_commit(session: AsyncSession) -> None:
    if session.info.pop(EVENTS_WRITTEN, False):
        hook: OnEvents | None = session.info.get("on_events")
        if hook is not None:
            hook()


@asynccontextmanager
async def transaction(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block ends, rolls back if it raises.

    SQLite has one writer at a time, and its busy handler retries by sleeping, which favours
    whoever asks again first: a busy writer could starve the others (the send worker behind a
    burst of API requests). Writers of this process queue on an asyncio lock instead, in order.
    """
    async with factory() as session:
        lock: WriteLock | None = session.info.get("write_lock")
        if lock is None:
            async with session.begin():
                await session.connection(execution_options={WRITE_OPTION: True})
                yield session
        else:
            async with lock, session.begin():
                await session.connection(execution_options={WRITE_OPTION: True})
                yield session
        _after_commit(session)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class SqlRunner:
    """Runs a synchronous unit of work (SQLAlchemy Core on a sync Connection) as one write
    transaction, off the event loop.

    Hot paths (accepting sends, draining the queue) use it. On SQLite each statement through
    aiosqlite costs a hop to its thread and back, several per statement; here a whole batch of
    statements runs on one dedicated thread in a single hop (stdlib sqlite3 releases the GIL
    while SQLite works). On PostgreSQL the same function runs through asyncpg (`run_sync`).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        write_lock: WriteLock | None,
        synchronous: str = "FULL",
        *,
        urgent: bool = False,
        on_events: OnEvents | None = None,
    ) -> None:
        self._engine = engine
        self._lock = write_lock
        self._urgent = urgent
        # Called after a unit of work that appended events has committed (see EVENTS_WRITTEN).
        self.on_events = on_events
        self._sync_engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._checkpointer: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            url = engine.url.set(drivername="sqlite+pysqlite")
            # One thread, one connection: the thread is this process's SQLite writer.
            self._sync_engine = sa.create_engine(
                url,
                connect_args={"timeout": 30, "check_same_thread": False},
                poolclass=sa.pool.SingletonThreadPool,
            )
            _configure_sqlite(self._sync_engine, synchronous)
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="tgw-sqlite-writer")
            # Checkpoints get a thread (and so a connection) of their own: one running on the
            # writer thread would hold up writes queued behind it, and their write lock.
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="tgw-sqlite-checkpoint")

    async def run(self, work: SyncWork[T]) -> T:
        if self._sync_engine is None or self._executor is None:
            async with self._engine.begin() as conn:
                await conn.execution_options(**{WRITE_OPTION: True})
                result = await conn.run_sync(work)
                info = conn.sync_connection.info if conn.sync_connection is not None else {}
                wrote_events = bool(info.pop(EVENTS_WRITTEN, False))
        else:
            loop = asyncio.get_running_loop()
            if self._lock is None:
                result, wrote_events = await loop.run_in_executor(
                    self._executor, self._run_here, work
                )
            else:
                async with self._lock.hold(self._urgent):
                    result, wrote_events = await loop.run_in_executor(
                        self._executor, self._run_here, work
                    )
        if wrote_events and self.on_events is not None:
            self.on_events()
        return result

    def _run_here(self, work: SyncWork[T]) -> tuple[T, bool]:
        assert self._sync_engine is not None
        with self._sync_engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                result = work(conn)
                wrote_events = bool(conn.info.pop(EVENTS_WRITTEN, False))
            return result, wrote_events

    async def checkpoint(self) -> tuple[int, int, int] | None:
        """Copy the SQLite WAL into the database (PASSIVE: readers and writers go on).

        Runs on a thread of its own, without the write lock. None on PostgreSQL.
        """
        if self._sync_engine is None or self._checkpointer is None:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._checkpointer, self._checkpoint_here)

    def _checkpoint_here(self) -> tuple[int, int, int]:
        assert self._sync_engine is not None
        with self._sync_engine.connect() as conn:
            # The DBAPI connection itself: a checkpoint cannot run inside a transaction.
            raw = conn.connection.driver_connection
            assert raw is not None
            busy, log_frames, done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(busy), int(log_frames), int(done)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
            self._checkpointer = None
        if self._executor is not None:
            executor, engine = self._executor, self._sync_engine
            self._executor = None

            def _shutdown() -> None:
                if engine is not None:
                    engine.dispose()

            executor.submit(_shutdown).result(timeout=10)
            executor.shutdown(wait=True)
