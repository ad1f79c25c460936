"""SqlRunner: a batch of SQLAlchemy Core statements as one write transaction, off the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
)

from app.db.engines import (
    EVENTS_WRITTEN,
    WRITE_OPTION,
    OnEvents,
    SyncWork,
    configure_sqlite,
    failed_write,
    sqlite_path,
)
from app.db.outages import (
    MIN_FREE_BYTES,
    RETRY_AFTER_S,
    SQLITE_LOCK_WAIT_S,
    database_unavailable,
    watch_outages,
)
from app.db.write_lock import WriteLock
from app.errors import DatabaseUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


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
            configure_sqlite(self._sync_engine, synchronous, busy_timeout_s)
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
            unavailable = failed_write(exc, self._lock, committing)
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

        The commits do not checkpoint (see `configure_sqlite`), and under a steady stream of
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
