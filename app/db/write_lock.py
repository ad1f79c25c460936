"""SQLite has one writer at a time: the writers of this process take turns on one lock."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from app.db.outages import REFUSING_REASONS, SQLITE_LOCK_WAIT_S, Probe
from app.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


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
