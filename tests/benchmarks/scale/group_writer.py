"""A raw sqlite3 group-commit writer: the durable insert the SQLite accept path is measured
against (scale/accept.py), and the one behind bench_send.py's bare POST /group.

No import of bench_send.py here: its baseline server imports this module."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CLIENT_ID = "bench@example.com"
RECIPIENT = "34612345678"


def app_row(index: int, to_number: str = RECIPIENT, text: str | None = None) -> dict[str, Any]:
    """A queue row as the accept path makes it for a WhatsMate text."""
    from app.queueing import message_row  # the server process finds this checkout first

    return message_row(
        instance=1,
        kind="text",
        now=datetime.now(UTC),
        client_id=CLIENT_ID,
        to_number=to_number,
        text=text if text is not None else f"raw {index}",
    )


def sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return value


def sqlite_values(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sqlite_value(v) for v in row.values())


class GroupWriter:
    """A raw sqlite3 writer thread with the gateway's durability: WAL, synchronous=FULL, one
    BEGIN IMMEDIATE ... COMMIT (one fsync) for whatever rows arrived meanwhile."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        import sqlite3

        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._sql = (
            f"INSERT INTO message ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._pending:
                    return
                batch, self._pending = self._pending, []
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(self._sql, [values for values, _ in batch])
            self._db.execute("COMMIT")
            for _, future in batch:
                self._loop.call_soon_threadsafe(_done, future)

    async def insert(self, values: tuple[Any, ...]) -> None:
        future: asyncio.Future[None] = self._loop.create_future()
        with self._cond:
            self._pending.append((values, future))
            self._cond.notify()
        await future

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()
        self._db.close()


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
