"""Engine and session factory. Query functions take a session and never commit."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app import private_files
from app.errors import DatabaseUnavailable
from app.settings import SettingsError

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a write waits for another process's lock on a SQLite file before it is refused
# ("database is locked past a bound": 503). Writers of this process never wait here: they
# take turns on the WriteLock.
SQLITE_LOCK_WAIT_S = 10.0
# A PostgreSQL server that does not answer a connection attempt within this is unreachable.
PG_CONNECT_TIMEOUT_S = 10.0
# After the disk was full, writes resume once this much is free again (and the WAL was copied).
MIN_FREE_BYTES = 256 * 1024
# The WAL file is truncated back to this size after a checkpoint has emptied it, so that a
# burst of writes does not keep its peak size on the disk for ever.
SQLITE_JOURNAL_SIZE_LIMIT = 32 * 1024 * 1024


# --- telling an outage from a bug ---------------------------------------------------------------

# How long a client should wait before retrying, by DatabaseUnavailable.reason.
RETRY_AFTER_S: dict[str, int] = {
    "unreachable": 5,
    "connection_lost": 5,
    "starting": 5,
    "locked": 5,
    "overloaded": 2,
    "disk_full": 30,
    "read_only": 30,
    "io_error": 30,
}
# Writes refused for one of these reasons are refused again until the cause is gone: on SQLite
# the WriteLock checks that first, instead of letting every writer fail (or wait) again.
REFUSING_REASONS = frozenset({"disk_full", "read_only", "locked"})
# Reasons for which a pooled connection is dead or useless: it is discarded, not reused.
_DISCARD_CONNECTION = frozenset({"connection_lost", "unreachable", "starting"})

_PG_SQLSTATES: dict[str, tuple[str, str | None]] = {
    "08001": ("unreachable", None),
    "08004": ("unreachable", "the server rejected the connection"),
    "57P01": ("connection_lost", "the server is shutting down"),
    "57P02": ("connection_lost", "the server crashed"),
    "57P03": ("starting", None),
    "53100": ("disk_full", None),
    "53200": ("overloaded", "the server is out of memory"),
    "53300": ("overloaded", "too many connections"),
    "53400": ("overloaded", None),
    "25006": ("read_only", "the server only allows read-only transactions"),
    "55P03": ("locked", None),
    "58030": ("io_error", None),
}
_OS_ERRNOS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("disk_full", "no space left on the device"),
    errno.EDQUOT: ("disk_full", "disk quota exceeded"),
    errno.EROFS: ("read_only", "read-only file system"),
    errno.EIO: ("io_error", "input/output error"),
    errno.ECONNREFUSED: ("unreachable", "connection refused"),
    errno.EHOSTUNREACH: ("unreachable", "no route to host"),
    errno.ENETUNREACH: ("unreachable", "network unreachable"),
    errno.EHOSTDOWN: ("unreachable", "host is down"),
    errno.ETIMEDOUT: ("unreachable", "connection timed out"),
    errno.ECONNRESET: ("connection_lost", "connection reset"),
    errno.ECONNABORTED: ("connection_lost", "connection aborted"),
    errno.EPIPE: ("connection_lost", "broken pipe"),
}
_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "app.db")


def database_unavailable(
    error: BaseException, *, via_database: bool = False
) -> DatabaseUnavailable | None:
    """The one place that tells a database outage from any other error.

    Returns a DatabaseUnavailable (503, `Retry-After`) when `error`, or an error it wraps, says
    that the database cannot be reached or refuses writes: PostgreSQL down, restarting, starting
    up, out of connections, read-only or out of disk; a SQLite file on a full, read-only or
    failing disk, or locked by another process past SQLITE_LOCK_WAIT_S. None for everything
    else (constraint violations, bad SQL, bugs), which stays a 500.

    An OSError counts only when it came out of the database layer (`via_database`, or raised
    from the driver's code): ENOSPC from writing an upload to a temporary file is no outage.
    """
    chain = list(_chain(error))
    for found, _ in chain:
        if isinstance(found, DatabaseUnavailable):
            return found
    for found, wrapped in chain:
        reason = _reason(found, via_database or wrapped)
        if reason is not None:
            return _unavailable(error, *reason)
    for found, _ in chain:
        # The dialect judged the connection gone, for a reason not recognised above.
        if isinstance(found, sa_exc.DBAPIError) and found.connection_invalidated:
            return _unavailable(error, "connection_lost", None)
    return None


def _unavailable(error: BaseException, reason: str, detail: str | None) -> DatabaseUnavailable:
    unavailable = DatabaseUnavailable(reason, RETRY_AFTER_S[reason], detail=detail)
    unavailable.__cause__ = error
    return unavailable


def _chain(error: BaseException) -> Iterator[tuple[BaseException, bool]]:
    """`error` and what it wraps (`.orig` of SQLAlchemy errors, causes, contexts); with each,
    whether it was reached through a database-layer error."""
    seen: set[int] = set()
    todo: list[tuple[BaseException, bool]] = [(error, False)]
    while todo and len(seen) < 12:
        current, wrapped = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current, wrapped
        inner = wrapped or isinstance(current, (sa_exc.SQLAlchemyError, sqlite3.Error))
        orig = getattr(current, "orig", None)
        for nxt in (orig, current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                todo.append((nxt, inner))


def _reason(error: BaseException, via_database: bool) -> tuple[str, str | None] | None:
    if isinstance(error, sqlite3.Error):
        return _sqlite_reason(error)
    if isinstance(error, sa_exc.TimeoutError):  # the pool had no connection to give
        return "overloaded", "no free database connection"
    if isinstance(error, sa_exc.DisconnectionError):
        return "connection_lost", None
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        if sqlstate in _PG_SQLSTATES:
            kind, detail = _PG_SQLSTATES[sqlstate]
            return kind, detail or _first_line(error)
        if sqlstate.startswith("08"):  # connection exception
            return "connection_lost", _first_line(error)
    name = type(error).__name__
    message = str(error).lower()
    if name in ("ConnectionDoesNotExistError", "ConnectionFailureError") or (
        name == "InterfaceError"
        and ("connection is closed" in message or "connection was closed" in message)
    ):
        return "connection_lost", _first_line(error)
    if isinstance(error, OSError) and (via_database or _raised_in_database_layer(error)):
        return _os_reason(error)
    return None


def _sqlite_reason(error: sqlite3.Error) -> tuple[str, str | None] | None:
    name = getattr(error, "sqlite_errorname", "") or ""
    message = str(error).lower()
    if name == "SQLITE_FULL" or "database or disk is full" in message:
        return "disk_full", None
    if name == "SQLITE_READONLY_DBMOVED":
        return "read_only", "the database file was moved or deleted while open"
    if name.startswith("SQLITE_READONLY") or "readonly database" in message:
        return "read_only", None
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in message:
        return "locked", None
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in message:
        return "io_error", None
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database file" in message:
        return "unreachable", "unable to open the database file"
    return None


def _os_reason(error: OSError) -> tuple[str, str | None]:
    if isinstance(error, socket.gaierror):
        return "unreachable", "the database host name does not resolve"
    if error.errno in _OS_ERRNOS:
        return _OS_ERRNOS[error.errno]
    if isinstance(error, TimeoutError):
        return "unreachable", "connection timed out"
    if isinstance(error, ConnectionError):
        return "connection_lost", _first_line(error)
    return "unreachable", _first_line(error)


def _raised_in_database_layer(error: BaseException) -> bool:
    tb = error.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DATABASE_MODULES):
            return True
        tb = tb.tb_next
    return False


def _first_line(error: BaseException) -> str | None:
    text_ = str(error).strip().splitlines()
    return text_[0][:120] if text_ else None


def watch_outages(engine: AsyncEngine | Engine) -> None:
    """Make `engine` raise DatabaseUnavailable for outages, and drop connections they spoil.

    - Errors of the driver (through SQLAlchemy's `handle_error`) that `database_unavailable`
      classifies are raised as DatabaseUnavailable: every route then answers 503 in its own
      error shape. Connections that are gone (a PostgreSQL restart) are marked as disconnects,
      so the pool discards them, and all the other connections of the pool too, instead of
      handing a dead one to the next request. Pre-ping failures are left alone: the pool then
      reconnects by itself.
    - Errors of connecting (`do_connect`: "connection refused" is a plain OSError, which
      SQLAlchemy does not wrap) are raised as DatabaseUnavailable as well.
    """
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    sqlite = sync_engine.dialect.name == "sqlite"

    @event.listens_for(sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> BaseException | None:
        unavailable = database_unavailable(context.original_exception, via_database=True)
        if unavailable is None:
            return None
        if unavailable.reason in _DISCARD_CONNECTION or (
            # A SQLite connection that opened a read-only file stays read-only for ever.
            sqlite and unavailable.reason == "read_only"
        ):
            context.is_disconnect = True
        if context.is_pre_ping:
            return None
        return unavailable

    @event.listens_for(sync_engine, "do_connect")
    def _on_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            unavailable = database_unavailable(exc, via_database=True)
            if unavailable is None:
                raise
            raise unavailable from exc


class OutageLog:
    """What a background worker says about a database outage: one warning when it starts, one
    line when it is over, instead of a traceback at every retry. Not thread-safe (one event
    loop)."""

    def __init__(self, logger: logging.Logger, who: str) -> None:
        self._log = logger
        self._who = who
        self.down_since: float | None = None

    def failed(self, error: DatabaseUnavailable) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self._log.warning("%s: %s Retrying until it is back.", self._who, error.message)

    def ok(self) -> None:
        if self.down_since is not None:
            lasted = time.monotonic() - self.down_since
            self.down_since = None
            self._log.warning("%s: the database is back after %.1f s; resuming", self._who, lasted)


async def retry_while_unavailable(
    work: Callable[[], Awaitable[T]], outage: OutageLog, interval_s: float = 1.0
) -> T:
    """`work()`, again every `interval_s` while it fails with DatabaseUnavailable (a worker
    that starts during an outage waits for the database instead of dying)."""
    while True:
        try:
            result = await work()
        except DatabaseUnavailable as exc:
            outage.failed(exc)
            await asyncio.sleep(interval_s)
            continue
        outage.ok()
        return result


# --- the write lock -----------------------------------------------------------------------------

Probe = Callable[[DatabaseUnavailable], Awaitable[None]]


class WriteLock:
    """The turn to write on a SQLite file, for the writers of this process, in order.

    Urgent writers (accepting API requests: a client is waiting) go before the others (the
    send worker, the sandbox, admin changes), who keep their arrival order. Fair among equals,
    and no writer waits in SQLite's busy handler, which retries by sleeping.

    It also remembers why writes are being refused (a full disk, a read-only file, another
    process's lock held past the bound: see `refuse`). While that lasts, each writer that gets
    the turn first checks the cause is gone (`probe`: a cheap test run by the SqlRunner), and is
    refused at once if it is not: failed writes do not pile up (each would grow the WAL into
    whatever space was freed, or wait out the lock again), and the first writer after the
    cause is gone goes through.
    """

    def __init__(self, lock_wait_s: float = SQLITE_LOCK_WAIT_S) -> None:
        # How long a write of this file waits for another process's lock (the engines' busy
        # timeout): said in the message of a write refused as "locked".
        self.lock_wait_s = lock_wait_s
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()
        self.refusal: DatabaseUnavailable | None = None
        # Raises DatabaseUnavailable while the cause of a refusal remains (set by SqlRunner).
        self.probe: Probe | None = None
        # Runs before each write while writes are not refused (SqlRunner: `_make_room`).
        self.guard: Callable[[], Awaitable[None]] | None = None

    async def acquire(self, urgent: bool = False) -> None:
        await self._take_turn(urgent)
        try:
            if self.refusal is not None:
                await self.recheck()
            elif self.guard is not None:
                try:
                    await self.guard()
                except DatabaseUnavailable as exc:
                    self.refuse(exc)
                    raise
        except BaseException:
            self.release()
            raise

    async def _take_turn(self, urgent: bool) -> None:
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

    def refuse(self, error: DatabaseUnavailable) -> None:
        """A write failed with `error`: refuse the next ones until its cause is gone."""
        if error.reason not in REFUSING_REASONS:
            return
        if self.refusal is None:
            log.warning("writes refused until the cause is gone: %s", error.message)
        self.refusal = error

    async def recheck(self) -> None:
        """With the turn held: raise DatabaseUnavailable if the refusal's cause remains, else
        lift the refusal."""
        refusal = self.refusal
        if refusal is None:
            return
        if self.probe is not None:
            try:
                await self.probe(refusal)
            except DatabaseUnavailable as still:
                self.refusal = still if still.reason in REFUSING_REASONS else refusal
                raise
        self.refusal = None
        log.warning("the database accepts writes again (%s is over)", refusal.reason)

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
    _configure_sqlite(engine, sqlite_synchronous, sqlite_busy_timeout_s)
    watch_outages(engine)
    return engine


def _configure_sqlite(
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
            unavailable = _failed_write(exc, lock, committing)
            if unavailable is None or unavailable is exc:
                raise
            raise unavailable from exc
        _after_commit(session)


def _failed_write(
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


class SqlRunner:
    """Runs a synchronous unit of work (SQLAlchemy Core on a sync Connection) as one write
    transaction, off the event loop.

    Hot paths (accepting sends, draining the queue) use it. On SQLite each statement through
    aiosqlite costs a hop to its thread and back, several per statement; here a whole batch of
    statements runs on one dedicated thread in a single hop (stdlib sqlite3 releases the GIL
    while SQLite works). On PostgreSQL the same function runs through asyncpg (`run_sync`).

    A database outage raises DatabaseUnavailable. On SQLite the runner also gives the write
    lock its `probe`: the test, run on the checkpoint thread, of whether a refusal's cause is
    gone (see `_probe_here`).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        write_lock: WriteLock | None,
        synchronous: str = "FULL",
        *,
        urgent: bool = False,
        on_events: OnEvents | None = None,
        busy_timeout_s: float = SQLITE_LOCK_WAIT_S,
    ) -> None:
        self._engine = engine
        self._lock = write_lock
        self._urgent = urgent
        # Called after a unit of work that appended events has committed (see EVENTS_WRITTEN).
        self.on_events = on_events
        self._sync_engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._checkpointer: ThreadPoolExecutor | None = None
        self._busy_ms = max(0, int(busy_timeout_s * 1000))
        self._path: Path | None = None
        # Free bytes on the database's disk when a probe last found it full, and when.
        self._full_probe: tuple[int, float] | None = None
        # When readers last kept `_make_room` from emptying the WAL.
        self._wal_held_at: float | None = None
        if engine.dialect.name == "sqlite":
            url = engine.url.set(drivername="sqlite+pysqlite")
            self._path = sqlite_path(url.render_as_string(hide_password=False))
            # One thread, one connection: the thread is this process's SQLite writer.
            self._sync_engine = sa.create_engine(
                url,
                connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
                poolclass=sa.pool.SingletonThreadPool,
                hide_parameters=True,
            )
            _configure_sqlite(self._sync_engine, synchronous, busy_timeout_s)
            watch_outages(self._sync_engine)
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="tgw-sqlite-writer")
            # Checkpoints get a thread (and so a connection) of their own: one running on the
            # writer thread would hold up writes queued behind it, and their write lock.
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="tgw-sqlite-checkpoint")
            if write_lock is not None and write_lock.probe is None:
                write_lock.probe = self._probe
                if self._path is not None:
                    write_lock.guard = self._make_room

    async def run(self, work: SyncWork[T]) -> T:
        committing = False
        try:
            if self._sync_engine is None or self._executor is None:
                async with self._engine.begin() as conn:
                    await conn.execution_options(**{WRITE_OPTION: True})
                    result = await conn.run_sync(work)
                    info = conn.sync_connection.info if conn.sync_connection is not None else {}
                    wrote_events = bool(info.pop(EVENTS_WRITTEN, False))
                    committing = True
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
        except Exception as exc:
            unavailable = _failed_write(exc, self._lock, committing)
            if unavailable is None or unavailable is exc:
                raise
            raise unavailable from exc
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
            try:
                row = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:
                unavailable = database_unavailable(exc)
                if unavailable is None:
                    raise
                raise unavailable from exc
            busy, log_frames, done = row
            return int(busy), int(log_frames), int(done)

    async def _probe(self, refusal: DatabaseUnavailable) -> None:
        """The write lock's probe (its turn held): raise DatabaseUnavailable while the cause of
        `refusal` remains."""
        if self._checkpointer is None:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._checkpointer, self._probe_here, refusal)

    def _probe_here(self, refusal: DatabaseUnavailable) -> None:
        """Raise DatabaseUnavailable unless the cause of `refusal` is gone.

        - Disk full: empty the WAL (`_empty_wal`), then see that MIN_FREE_BYTES are free. Until
          then writes stay refused: a write that fails still grows the WAL into whatever room
          was freed, which its checkpoint then lacks. While the free space has not changed
          since the last failed try (within a second), it is not tried again.
        - Read-only or locked: a write transaction that writes the header and rolls back,
          without waiting for the lock; nothing reaches the disk.
        """
        assert self._sync_engine is not None
        if refusal.reason == "disk_full":
            last = self._full_probe
            recent = last is not None and time.monotonic() - last[1] < 1.0
            if last is not None and recent and self._wal_and_free()[1] <= last[0]:
                raise DatabaseUnavailable("disk_full", RETRY_AFTER_S["disk_full"])
            self._empty_wal()
            free = self._wal_and_free()[1]
            if free < MIN_FREE_BYTES:
                self._full_probe = (free, time.monotonic())
                raise DatabaseUnavailable("disk_full", RETRY_AFTER_S["disk_full"])
            return
        with self._sync_engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            try:
                raw.execute("PRAGMA busy_timeout=0")
                raw.execute("BEGIN IMMEDIATE")
                try:
                    version = int(raw.execute("PRAGMA user_version").fetchone()[0])
                    raw.execute(f"PRAGMA user_version={version}")
                finally:
                    if raw.in_transaction:
                        raw.execute("ROLLBACK")
            except sqlite3.Error as exc:
                unavailable = database_unavailable(exc)
                if unavailable is None:
                    raise
                if unavailable.reason == "read_only":
                    conn.invalidate()  # opened read-only: the next probe opens a new one
                raise unavailable from exc
            finally:
                if not conn.invalidated:
                    raw.execute(f"PRAGMA busy_timeout={self._busy_ms}")

    async def _make_room(self) -> None:
        """The write lock's guard, before each write (its turn held): the WAL may never take
        the room that copying it into the database needs.

        The commits do not checkpoint (see `_configure_sqlite`), and under a steady stream of
        writes the background PASSIVE checkpoint never catches up with the end of the WAL, so
        the WAL is never started over: it grows into all the free space. Were the disk then
        full, nothing could be written (the WAL cannot grow) and nothing copied (the database
        file cannot grow), even after space was freed, which the growing WAL took again first:
        the gateway stayed stuck until it was restarted. So once the WAL is larger than the
        free space, it is emptied first, writers held (a near-full disk only: two system calls
        per write otherwise).
        """
        if self._checkpointer is None:
            return
        wal, free = self._wal_and_free()
        if wal <= free:
            return
        held_back = self._wal_held_at
        if held_back is not None and time.monotonic() - held_back < 0.1:
            return  # readers kept it from being emptied just now: copied, which is what counts
        loop = asyncio.get_running_loop()
        emptied = await loop.run_in_executor(self._checkpointer, self._empty_wal)
        self._wal_held_at = None if emptied else time.monotonic()

    def _empty_wal(self) -> bool:
        """A TRUNCATE checkpoint: copy the whole WAL into the database and give its space back
        to the disk. Raise DatabaseUnavailable("disk_full") if there is no room to copy it.

        Readers that still use the WAL keep it from being truncated (waited for 100 ms, no
        more; then False): it is copied all the same, which is what matters, as the next write
        only needs room for its own pages.
        """
        assert self._sync_engine is not None
        with self._sync_engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            try:
                raw.execute("PRAGMA busy_timeout=100")
                busy = int(raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
            except sqlite3.Error as exc:
                unavailable = database_unavailable(exc)
                if unavailable is None:
                    raise
                if unavailable.reason == "disk_full":
                    self._full_probe = (self._wal_and_free()[1], time.monotonic())
                raise unavailable from exc
            finally:
                raw.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        self._full_probe = None
        return not busy

    def _wal_and_free(self) -> tuple[int, int]:
        """The size of the WAL file and the free bytes on its disk."""
        if self._path is None:
            return 0, 0
        try:
            wal = os.stat(f"{self._path}-wal").st_size
        except OSError:
            wal = 0
        try:
            disk = os.statvfs(self._path.parent)
        except OSError:
            return wal, 0
        # Root may also write the blocks a file system keeps in reserve (ext4: 5 %).
        blocks = disk.f_bfree if os.geteuid() == 0 else disk.f_bavail
        return wal, blocks * disk.f_frsize

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
