"""The processes of a deployment: each registers itself, renews its row every few seconds and
deletes it at a clean stop. A row whose `expires_at` passed is a dead process (killed, frozen,
cut off from the database).

As with the instances' leases (app/lease.py), PostgreSQL's own clock decides what expired:
processes on several machines never compare their clocks. SQLite is on one machine, whose
clock the caller passes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.lease import DB_LATER, DB_NOW
from app.models import UTCDateTime, utcnow
from app.settings import Role

# Rows of processes dead for this long are deleted (a deployment keeps a day of history).
FORGET_AFTER = timedelta(days=1)

_LONG_AGO = {"postgresql": "clock_timestamp() - interval '1 day'", "sqlite": ":long_ago"}

_BEAT = """
INSERT INTO cluster_process
    (id, role, host, pid, address, max_sessions, started_at, heartbeat_at, expires_at)
VALUES (:id, :role, :host, :pid, :address, :max_sessions, {now}, {now}, {later})
ON CONFLICT (id) DO UPDATE
SET heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at
"""
_LIVE = """
SELECT id, role, max_sessions FROM cluster_process WHERE expires_at > {now} ORDER BY id
"""
_LEAVE = "DELETE FROM cluster_process WHERE id = :id"
_FORGET = "DELETE FROM cluster_process WHERE expires_at < {long_ago}"


@dataclass(frozen=True)
class LiveProcess:
    id: str
    role: str
    max_sessions: int | None

    @property
    def holds_sessions(self) -> bool:
        return self.role in ("worker", "all")


@dataclass(frozen=True)
class Me:
    """This process, as it registers itself."""

    id: str
    role: Role
    address: str | None
    max_sessions: int | None
    host: str = field(default_factory=lambda: os.uname().nodename)
    pid: int = field(default_factory=os.getpid)


class ProcessRegistry:
    def __init__(self, engine: AsyncEngine, me: Me, ttl_s: float) -> None:
        self._engine = engine
        self.me = me
        self.ttl_s = ttl_s

    def _statement(self, template: str) -> tuple[Any, set[str]]:
        dialect = "postgresql" if self._engine.dialect.name == "postgresql" else "sqlite"
        sql = template.format(
            now=DB_NOW[dialect], later=DB_LATER[dialect], long_ago=_LONG_AGO[dialect]
        )
        names = set(re.findall(r"(?<!:):(\w+)", sql))
        stamps = [bindparam(n, type_=UTCDateTime) for n in ("now", "later", "long_ago")]
        return text(sql).bindparams(*(s for s in stamps if s.key in names)), names

    def _params(self) -> dict[str, Any]:
        now = utcnow()
        return {
            "id": self.me.id,
            "role": self.me.role,
            "host": self.me.host[:255],
            "pid": self.me.pid,
            "address": self.me.address,
            "max_sessions": self.me.max_sessions,
            "ttl": self.ttl_s,
            "now": now,
            "later": now + timedelta(seconds=self.ttl_s),
            "long_ago": now - FORGET_AFTER,
        }

    async def _run(self, template: str) -> list[Any]:
        statement, names = self._statement(template)
        params = {k: v for k, v in self._params().items() if k in names}
        async with self._engine.begin() as conn:
            result = await conn.execute(statement, params)
            return list(result.all()) if result.returns_rows else []

    async def heartbeat(self) -> list[LiveProcess]:
        """Register or renew this process; the live processes, this one included."""
        await self._run(_BEAT)
        rows = await self._run(_LIVE)
        live = [LiveProcess(str(r[0]), str(r[1]), r[2]) for r in rows]
        if all(p.id != self.me.id for p in live):  # a clock far off; never count ourselves out
            live.append(LiveProcess(self.me.id, self.me.role, self.me.max_sessions))
        return live

    async def leave(self) -> None:
        """A clean stop: the others count without this process at once."""
        await self._run(_LEAVE)

    async def forget_the_long_dead(self) -> None:
        await self._run(_FORGET)
