"""One owner per Telegram session: a lease per instance (ARCHITECTURE.md, issue 6).

Two processes on one session get AUTH_KEY_DUPLICATED and the login dies, and two send workers
would claim the same queue. So each `tgw serve` takes a lease per instance before it opens the
session: a PostgreSQL session-level advisory lock (held by one connection; released when the
process dies and its connection drops), or on SQLite an exclusive `flock` on a lock file beside
the database (released by the kernel when the process dies). A process that does not get the
lease serves HTTP, shows the instance as owned by another process, and tries again now and then,
so it takes over when the owner dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db import sqlite_path

log = logging.getLogger(__name__)

_PG_KEY = "hashtext(current_database() || '/' || current_schema() || '/tgw-instance/' || :n)"


class InstanceLease:
    def __init__(self, engine: AsyncEngine, database_url: str, instance: int) -> None:
        self._engine = engine
        self._url = database_url
        self.instance = instance
        self._fd: int | None = None
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._conn is not None

    def lock_path(self) -> Path | None:
        path = sqlite_path(self._url)
        if path is None:
            return None
        return path.with_name(f"{path.name}.instance-{self.instance}.lock")

    async def try_acquire(self) -> bool:
        if self.held:
            return True
        if self._engine.dialect.name == "postgresql":
            return await self._try_pg()
        return await asyncio.to_thread(self._try_file)

    def _try_file(self) -> bool:
        path = self.lock_path()
        if path is None:  # an in-memory database: nothing else can share it
            self._fd = -1
            return True
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    async def _try_pg(self) -> bool:
        conn = await self._engine.connect()
        try:
            got = await conn.scalar(
                text(f"SELECT pg_try_advisory_lock({_PG_KEY})"), {"n": str(self.instance)}
            )
            # The lock belongs to the connection, not the transaction: end the transaction
            # so the held connection does not sit "idle in transaction".
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if fd >= 0:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.execute(
                    text(f"SELECT pg_advisory_unlock({_PG_KEY})"), {"n": str(self.instance)}
                )
                await conn.commit()
            await conn.close()

    def describe(self) -> dict[str, Any]:
        return {"session_owner": "this process" if self.held else "another process"}
