"""One owner per Telegram session: a fenced lease per instance.

Two processes on one session get AUTH_KEY_DUPLICATED and Telegram destroys the login, and two
send workers would claim the same queue. So a process takes an instance's lease before it opens
the session, and gives the session up *before* anybody else can take the lease over:

- The lease is a row of `instance_lease`: its holder, a fencing `token` that grows with every
  new holder, and an expiry (on PostgreSQL by the database's own clock: no two machines'
  clocks are compared). The holder renews it every `renew_every_s`; another process takes it
  only once it expired or was released. On SQLite the holder also keeps an exclusive `flock` on
  a file beside the database (the kernel drops it when the process dies, and whoever locks the
  same file next takes over at once); a holder whose lock file was deleted or replaced counts
  its lease as lost, and a process that locks the new file waits for the expiry.
- The holder counts its lease as valid for `fence_after_s` after the start of its last renewal
  that succeeded (a monotonic clock, which also runs while the process is stopped). That is
  well inside the expiry the database holds, so the holder stops using the session (its client
  disconnected, its workers stopped) before the lease can pass to anyone: a lost database
  connection, a renewal that does not come back, a kill -STOP, all end the same way.
- Every write only the holder may make (the session snapshot and update state, claims of the
  send queue, login and logout) checks the token in the same transaction (`guard`), so a holder
  that lost the lease cannot write even if it has not noticed yet.
- A process stopped with SIGSTOP cannot disconnect anything. Its Telegram connection is dropped
  by Telegram itself: the backend keeps asking for that (MTProto `ping_delay_disconnect`) with a
  delay of `telegram_disconnect_s`, and `fence_after_s + telegram_disconnect_s` is less than the
  lease's time to live.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app import private_files
from app.db import sqlite_path
from app.errors import ApiError
from app.models import UTCDateTime, utcnow

log = logging.getLogger(__name__)

LEASE_TTL_S = 30.0


class LeaseLost(ApiError):
    """This process no longer holds the instance's lease: it must not touch the session."""

    def __init__(self, message: str) -> None:
        super().__init__("conflict", message)


@dataclass(frozen=True)
class LeaseTiming:
    """Every period of the lease, derived from its time to live (see the module's text)."""

    ttl_s: float = LEASE_TTL_S

    @property
    def renew_every_s(self) -> float:
        return self.ttl_s / 6

    @property
    def fence_after_s(self) -> float:
        return self.ttl_s / 2

    @property
    def telegram_disconnect_s(self) -> int:
        return max(2, int(self.ttl_s / 3))

    @property
    def ping_every_s(self) -> float:
        return max(0.5, self.ttl_s / 10)


def process_owner_id() -> str:
    """Who holds a lease: unique per process start, readable by an admin."""
    return f"{os.uname().nodename[:32]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


# The database's clock decides expiry: PostgreSQL's own (processes on several machines never
# compare their clocks); SQLite is on one machine, whose clock the caller passes (:now).
# The cluster registry (app/cluster/registry.py) expires by the same clock.
DB_NOW = {"postgresql": "clock_timestamp()", "sqlite": ":now"}
DB_LATER = {"postgresql": "clock_timestamp() + make_interval(secs => :ttl)", "sqlite": ":later"}
_EARLIER = {"postgresql": "clock_timestamp() - interval '1 second'", "sqlite": ":earlier"}
_ACQUIRE = """
INSERT INTO instance_lease (instance, owner, token, expires_at, acquired_at, lock_file)
VALUES (:n, :owner, 1, {later}, {now}, :lock_file)
ON CONFLICT (instance) DO UPDATE
SET owner = excluded.owner, token = instance_lease.token + 1,
    expires_at = excluded.expires_at, acquired_at = excluded.acquired_at,
    lock_file = excluded.lock_file
WHERE instance_lease.expires_at < {now} OR instance_lease.owner = excluded.owner
    OR instance_lease.lock_file = excluded.lock_file
RETURNING token
"""
_RENEW = """
UPDATE instance_lease SET expires_at = {later}
WHERE instance = :n AND owner = :owner AND token = :token
RETURNING token
"""
_RELEASE = """
UPDATE instance_lease SET expires_at = {earlier}
WHERE instance = :n AND owner = :owner AND token = :token
"""
_TOKEN = "SELECT owner, token FROM instance_lease WHERE instance = :n"
# Built once: the send worker guards every claim with it (text() parses its SQL when made).
_TOKEN_QUERY = {False: text(_TOKEN), True: text(_TOKEN + " FOR SHARE")}


class InstanceLease:
    def __init__(
        self,
        engine: AsyncEngine,
        database_url: str,
        instance: int,
        *,
        owner: str | None = None,
        timing: LeaseTiming | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._url = database_url
        self.instance = instance
        self.owner = owner or process_owner_id()
        self.timing = timing or LeaseTiming()
        self._monotonic = monotonic
        self._fd: int | None = None
        self._lock_identity: tuple[int, int] | None = None
        self.token: int | None = None
        self._valid_until = 0.0

    @property
    def _postgres(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    # -- the holder's view --

    def valid(self) -> bool:
        """True while this process may use the session (renewed recently enough)."""
        return self.token is not None and self._monotonic() < self._valid_until

    @property
    def held(self) -> bool:
        return self.valid()

    def remaining_s(self) -> float:
        return max(0.0, self._valid_until - self._monotonic()) if self.token is not None else 0.0

    def lock_path(self) -> Path | None:
        path = sqlite_path(self._url)
        if path is None:
            return None
        return path.with_name(f"{path.name}.instance-{self.instance}.lock")

    # -- taking, keeping, giving up --

    def _statement(self, template: str) -> tuple[Any, set[str]]:
        """The statement for this database, and the names of its parameters."""
        dialect = "postgresql" if self._postgres else "sqlite"
        sql = template.format(
            now=DB_NOW[dialect], later=DB_LATER[dialect], earlier=_EARLIER[dialect]
        )
        names = set(re.findall(r"(?<!:):(\w+)", sql))
        times = [bindparam(n, type_=UTCDateTime) for n in ("now", "later", "earlier") if n in names]
        return text(sql).bindparams(*times), names

    def _params(self, **extra: Any) -> dict[str, Any]:
        lock_file = None
        if self._lock_identity is not None:
            lock_file = f"{self._lock_identity[0]}:{self._lock_identity[1]}"
        now = utcnow()
        return {
            "n": self.instance,
            "owner": self.owner,
            "lock_file": lock_file,
            "ttl": self.timing.ttl_s,
            "now": now,
            "later": now + timedelta(seconds=self.timing.ttl_s),
            "earlier": now - timedelta(seconds=1),
            **extra,
        }

    async def _write(self, template: str, **extra: Any) -> Any:
        statement, names = self._statement(template)
        params = {k: v for k, v in self._params(**extra).items() if k in names}
        async with self._engine.begin() as conn:
            result = await conn.execute(statement, params)
            return result.scalar() if result.returns_rows else None

    async def try_acquire(self) -> bool:
        """Take the lease if it is free (never held, released, or expired)."""
        if self.valid():
            return True
        started = self._monotonic()
        # SQLite: the lock file first (the kernel frees it when its holder dies), then the row,
        # whose expiry still stands when the file was replaced under a live holder.
        if not self._postgres and not await asyncio.to_thread(self._lock_file):
            return False
        try:
            token = await self._write(_ACQUIRE)
        except BaseException:
            self._unlock_file()
            raise
        if token is None:
            self._unlock_file()
            return False
        self.token = int(token)
        self._valid_until = started + self.timing.fence_after_s
        log.info("instance %s: lease taken (token %s)", self.instance, self.token)
        return True

    async def renew(self) -> bool:
        """Extend the lease; False when it is lost (then this object holds nothing)."""
        if self.token is None:
            return False
        started = self._monotonic()
        ours = self._postgres or await asyncio.to_thread(self._lock_file_intact)
        if ours:
            ours = await self._write(_RENEW, token=self.token) is not None
        if not ours or started >= self._valid_until:
            # Lost, or valid no more by the time the answer came: either way the session was
            # (or is being) given up; a new lease, with a new token, is needed.
            await self.release()
            return False
        self._valid_until = started + self.timing.fence_after_s
        return True

    async def release(self) -> None:
        token, self.token = self.token, None
        self._valid_until = 0.0
        if token is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timing.renew_every_s):
                    await self._write(_RELEASE, token=token)
        self._unlock_file()

    # -- fencing the holder's writes --

    def _check_row(self, row: Any) -> None:
        if self.token is None or row is None or (row[0], int(row[1])) != (self.owner, self.token):
            raise LeaseLost(f"instance {self.instance}: this process no longer holds the lease")

    def _token_query(self) -> Any:
        return _TOKEN_QUERY[self._postgres]

    async def guard(self, session: AsyncSession) -> None:
        """Raise LeaseLost unless this process holds the lease; call it inside the write's
        transaction (on PostgreSQL the row stays share-locked, so no takeover commits first)."""
        if not self.valid():
            raise LeaseLost(f"instance {self.instance}: the lease is not held or not renewed")
        row = (await session.execute(self._token_query(), {"n": self.instance})).first()
        self._check_row(row)

    def guard_sync(self, conn: Connection) -> None:
        """`guard` for Core units of work on the SqlRunner."""
        if not self.valid():
            raise LeaseLost(f"instance {self.instance}: the lease is not held or not renewed")
        self._check_row(conn.execute(self._token_query(), {"n": self.instance}).first())

    # -- the SQLite lock file --

    def _lock_file(self) -> bool:
        if self._fd is not None:
            return True
        path = self.lock_path()
        if path is None:  # an in-memory database: nothing else can share it
            self._fd = -1
            return True
        fd = os.open(path, os.O_RDWR | os.O_CREAT, private_files.FILE_MODE)
        private_files.narrow_fd(fd, path)  # one made by an older version could be 0644
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        info = os.fstat(fd)
        self._fd, self._lock_identity = fd, (info.st_dev, info.st_ino)
        return True

    def _lock_file_intact(self) -> bool:
        """The lock is ours while the file at the lock path is the one we locked: were it
        deleted or replaced, another process could lock the new one."""
        if self._fd is None:
            return False
        path = self.lock_path()
        if path is None:
            return True
        try:
            info = os.stat(path)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) == self._lock_identity

    def _unlock_file(self) -> None:
        fd, self._fd = self._fd, None
        self._lock_identity = None
        if fd is not None and fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def describe(self) -> dict[str, Any]:
        return {"session_owner": "this process" if self.held else "another process"}


async def keep(lease: InstanceLease, *, sleep: Callable[[float], Any] = asyncio.sleep) -> None:
    """Renew the lease until it is lost, or until it can no longer be shown to be ours; then
    return: the caller gives the session up at once (there is `ttl_s - fence_after_s` left
    before another process may take the lease)."""
    while True:
        await sleep(min(lease.timing.renew_every_s, lease.remaining_s()))
        remaining = lease.remaining_s()
        if remaining <= 0:
            log.warning("instance %s: the lease could not be renewed in time", lease.instance)
            await lease.release()
            return
        try:
            async with asyncio.timeout(remaining):
                if not await lease.renew():
                    log.warning("instance %s: the lease was lost", lease.instance)
                    return
        except TimeoutError:
            continue  # remaining_s() is 0 now: the next round gives up
        except Exception as exc:  # the database is away: try again while the lease is valid
            log.warning("instance %s: could not renew the lease: %r", lease.instance, exc)
