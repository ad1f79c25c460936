"""Telling a database outage from a bug: the one classification of driver errors into
DatabaseUnavailable, and engines that raise it."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
)

from app.errors import DatabaseUnavailable

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
