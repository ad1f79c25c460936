"""Where Telegram sessions live: one sealed row per instance (no .session file, no string).

The backend hands over a plain JSON-able snapshot (auth key, DC and address, update state,
entity cache); this module seals it (app/sealing.py) and keeps it in the gateway's database,
so a restart finds the update state and catches up on what it missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from app.db import Database
from app.lease import LeaseLost
from app.models import TelegramSession
from app.sealing import derive_key, seal, unseal
from app.telegram.port import SessionFence

log = logging.getLogger(__name__)

Snapshot = dict[str, Any]


class SessionStore:
    def __init__(self, database: Database, secret_key: str, clock: Callable[[], datetime]) -> None:
        self._db = database
        self._key = derive_key(secret_key, "telegram-session")
        self._clock = clock

    @staticmethod
    def _owner(instance: int) -> bytes:
        return f"telegram-session:instance:{instance}".encode()

    async def load(self, instance: int) -> Snapshot | None:
        async with self._db.read() as session:
            row = await session.get(TelegramSession, instance)
        if row is None:
            return None
        snapshot: Snapshot = orjson.loads(unseal(self._key, row.sealed, self._owner(instance)))
        return snapshot

    async def store(
        self, instance: int, snapshot: Snapshot | None, *, fence: SessionFence | None = None
    ) -> None:
        """Keep the snapshot (None: forget the session, as after a logout). With a fence, only
        while this process holds the instance's lease (checked in the same transaction)."""
        async with self._db.write() as session:
            if fence is not None:
                await fence.guard(session)
            row = await session.get(TelegramSession, instance)
            if snapshot is None:
                if row is not None:
                    await session.delete(row)
                return
            sealed = seal(self._key, orjson.dumps(snapshot), self._owner(instance))
            if row is None:
                session.add(
                    TelegramSession(instance=instance, sealed=sealed, updated_at=self._clock())
                )
            else:
                row.sealed = sealed
                row.updated_at = self._clock()


class SessionWriter:
    """Writes snapshots in the background, newest wins.

    Telethon calls `Session.save()` synchronously on the event loop (after logins, DC moves,
    every minute and on disconnect); the database is async. `save()` only records the newest
    snapshot and wakes this writer; `flush()` waits until what was handed over is stored.
    """

    _EMPTY: Any = object()

    def __init__(
        self, store: SessionStore, instance: int, *, fence: SessionFence | None = None
    ) -> None:
        self._store = store
        self._instance = instance
        self.fence = fence
        self._pending: Any = self._EMPTY
        self._task: asyncio.Task[None] | None = None

    def submit(self, snapshot: Snapshot | None) -> None:
        self._pending = snapshot
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._pending is not self._EMPTY:
            snapshot, self._pending = self._pending, self._EMPTY
            try:
                await self._store.store(self._instance, snapshot, fence=self.fence)
            except LeaseLost:
                log.warning("instance %s: not stored: the lease is not held", self._instance)
                return
            except Exception:
                log.exception("instance %s: could not store the Telegram session", self._instance)
                if self._pending is self._EMPTY:
                    self._pending = snapshot  # try again with the next save
                return

    async def flush(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self._pending is not self._EMPTY:
            self._task = asyncio.get_running_loop().create_task(self._drain())
            await self._task
