"""Engines, session factories and transactions (query functions take a session and never
commit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app import private_files
from app.db.outages import (
    PG_CONNECT_TIMEOUT_S,
    RETRY_AFTER_S,
    SQLITE_JOURNAL_SIZE_LIMIT,
    SQLITE_LOCK_WAIT_S,
    database_unavailable,
    watch_outages,
)
from app.db.write_lock import WriteLock
from app.errors import DatabaseUnavailable
from app.settings import SettingsError

log = logging.getLogger(__name__)
T = TypeVar("T")

_OPENED_READ_ONLY = "tgw_opened_read_only"
SessionFactory = async_sessionmaker[AsyncSession]
WRITE_OPTION = "tgw_write"
# Set (on a session's or a connection's `info`) by the code that appends to the event log, so
# that the unit of work calls its `on_events` hook after the commit: the webhook worker wakes at
# once instead of at its next poll.
EVENTS_WRITTEN = "tgw_events_written"
OnEvents = Callable[[], None]
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


def display_url(url: str) -> str:
    """A database URL fit for a terminal or a log: its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "(an unreadable database URL)"


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


def create_engine(
    url: str,
    *,
    sqlite_synchronous: str = "FULL",
    sqlite_busy_timeout_s: float = SQLITE_LOCK_WAIT_S,
    **kwargs: Any,
) -> AsyncEngine:
    """An engine whose outages raise DatabaseUnavailable (see `watch_outages`).

    PostgreSQL: pooled connections are pinged before use (a restart leaves them dead), and a
    connection attempt gives up after PG_CONNECT_TIMEOUT_S. SQLite: a write waits at most
    `sqlite_busy_timeout_s` for another process's lock.
    """
    url = async_url(url)
    # Statement parameters (message texts, numbers, secret hashes) never reach a log line or
    # an error message, whatever the log level.
    kwargs.setdefault("hide_parameters", True)
    if not is_sqlite(url):
        parsed = make_url(url)
        search_path = parsed.query.get("search_path")
        connect_args = kwargs.setdefault("connect_args", {})
        if search_path:
            # A schema of its own (tests, or several deployments in one database).
            url = parsed.difference_update_query(["search_path"]).render_as_string(False)
            connect_args["server_settings"] = {"search_path": str(search_path)}
        connect_args.setdefault("timeout", PG_CONNECT_TIMEOUT_S)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
        try:
            engine = create_async_engine(url, **kwargs)
        except ImportError as exc:
            if exc.name != "asyncpg":
                raise
            raise SettingsError(
                "[database] url is a PostgreSQL URL, but its driver asyncpg is not installed:"
                " pip install 'tgw[postgres]' (in a checkout: pip install -e '.[postgres]')"
            ) from exc
        watch_outages(engine)
        return engine
    engine = create_async_engine(url, connect_args={"timeout": sqlite_busy_timeout_s}, **kwargs)
    configure_sqlite(engine, sqlite_synchronous, sqlite_busy_timeout_s)
    watch_outages(engine)
    return engine


def configure_sqlite(
    engine: AsyncEngine | Engine, synchronous: str, busy_timeout_s: float = SQLITE_LOCK_WAIT_S
) -> None:
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous}")
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    busy_ms = max(0, int(busy_timeout_s * 1000))
    path = sqlite_path(sync_engine.url.render_as_string(hide_password=False))
    if path is not None:
        # Messages, numbers, media: 0600 before SQLite first opens it (it would make it 0644
        # under a usual umask), and its -wal and -shm then get the same mode from SQLite.
        # Where the file cannot be made (a folder we may not write), SQLite says why on open.
        with contextlib.suppress(OSError):
            private_files.create_private_file(path)

    def opened_read_only() -> bool:
        # SQLite opens a file it may not write (mode, immutable flag, read-only mount)
        # read-only, without a word, and such a connection never writes again, even once the
        # file is writable: see `_on_checkout`.
        return path is not None and path.exists() and not os.access(path, os.W_OK)

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE below is the only BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a transaction that committed is on disk, even across a power cut. (NORMAL is
        # for the sandbox's simulated Telegram only: safe across a crash of the process.)
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        # No checkpoint inside a commit: the commit that crosses the threshold would copy the
        # WAL into the database and fsync it while holding the write lock (tens of ms that every
        # waiting request pays). `SqlRunner.checkpoint` does it in the background instead.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute(f"PRAGMA journal_size_limit={SQLITE_JOURNAL_SIZE_LIMIT}")
        cursor.close()
        if path is not None:
            # A belt to SQLite's braces: -wal and -shm left by an older version were 0644.
            for suffix in ("-wal", "-shm"):
                private_files.narrow(path.with_name(path.name + suffix))
        record.info[_OPENED_READ_ONLY] = opened_read_only()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get(_OPENED_READ_ONLY) and not opened_read_only():
            # The pool opens a new connection, which can write.
            raise sa_exc.DisconnectionError("the database file is writable again")

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

    A database outage raises DatabaseUnavailable (see `database_unavailable`).
    """
    async with factory() as session:
        lock: WriteLock | None = session.info.get("write_lock")
        committing = False
        try:
            if lock is None:
                async with session.begin():
                    await session.connection(execution_options={WRITE_OPTION: True})
                    yield session
                    committing = True
            else:
                async with lock, session.begin():
                    await session.connection(execution_options={WRITE_OPTION: True})
                    yield session
                    committing = True
        except Exception as exc:
            unavailable = failed_write(exc, lock, committing)
            if unavailable is None or unavailable is exc:
                raise
            raise unavailable from exc
        _after_commit(session)


def failed_write(
    exc: Exception, lock: WriteLock | None, committing: bool
) -> DatabaseUnavailable | None:
    """A unit of work failed with `exc`: the DatabaseUnavailable to raise for an outage (which
    the write lock remembers when later writes would fail the same way), else None."""
    unavailable = database_unavailable(exc)
    if unavailable is None:
        return None
    if committing and unavailable.reason == "connection_lost":
        unavailable = unavailable.with_outcome_unknown()
    if lock is not None:
        if unavailable.reason == "locked" and unavailable.detail is None:
            unavailable = DatabaseUnavailable(
                "locked", unavailable.retry_after_s, detail=f"for more than {lock.lock_wait_s:g} s"
            )
            unavailable.__cause__ = exc
        lock.refuse(unavailable)
    return unavailable


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def check_ready(
    engine: AsyncEngine, write_lock: WriteLock | None = None, timeout_s: float = 5.0
) -> None:
    """Raise DatabaseUnavailable unless the database answers within `timeout_s` and, as far as
    is known, takes writes: on PostgreSQL, the server is not read-only (a standby); on SQLite,
    writes are not being refused (`WriteLock.refuse`), or the cause of the refusal is gone now
    (checked as a writer would, so a passing check also lets writes through again)."""
    try:
        async with asyncio.timeout(timeout_s):
            async with engine.connect() as conn:
                if engine.dialect.name == "postgresql":
                    read_only = await conn.scalar(
                        text("SELECT current_setting('transaction_read_only')")
                    )
                    if read_only == "on":
                        raise DatabaseUnavailable(
                            "read_only",
                            RETRY_AFTER_S["read_only"],
                            detail="the server only allows read-only transactions",
                        )
                else:
                    await conn.execute(text("SELECT 1"))
            if write_lock is not None and write_lock.refusal is not None:
                async with write_lock.hold():
                    pass
    except TimeoutError as exc:
        raise DatabaseUnavailable(
            "unreachable", RETRY_AFTER_S["unreachable"], detail=f"no answer within {timeout_s:g} s"
        ) from exc
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        unavailable = database_unavailable(exc, via_database=True)
        if unavailable is None:
            raise
        raise unavailable from exc
