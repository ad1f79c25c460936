"""What GET /admin/cluster and `tgw status` show: the processes and who holds which instance.

Read from the database alone (any process answers the same): the registry's rows, the
instances' leases, judged by the database's clock like the leases themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.cluster.share import fair_share
from app.models import ClusterProcess, Instance, InstanceLease, utcnow
from app.timestamps import iso


async def database_now(session: AsyncSession) -> datetime:
    """The clock the leases and the registry expire by (PostgreSQL's own; SQLite: ours)."""
    if session.get_bind().dialect.name == "postgresql":
        value = (await session.execute(text("SELECT clock_timestamp()"))).scalar_one()
        assert isinstance(value, datetime)
        return value
    return utcnow()


@dataclass(frozen=True)
class ClusterState:
    now: datetime
    processes: list[ClusterProcess]
    instances: list[int]
    leases: dict[int, InstanceLease]

    def live(self, process: ClusterProcess) -> bool:
        return process.expires_at > self.now

    def holder(self, number: int) -> str | None:
        """Who holds `number`'s session now (a lease not expired), if anybody."""
        lease = self.leases.get(number)
        return lease.owner if lease is not None and lease.expires_at > self.now else None

    def held_by(self, process_id: str) -> list[int]:
        return [n for n in self.instances if self.holder(n) == process_id]

    def share(self) -> int:
        holders = [p for p in self.processes if self.live(p) and p.role in ("worker", "all")]
        return fair_share(len(self.instances), [p.max_sessions for p in holders]) if holders else 0


async def read_cluster(session: AsyncSession) -> ClusterState:
    now = await database_now(session)
    processes = list(
        await session.scalars(select(ClusterProcess).order_by(col(ClusterProcess.started_at)))
    )
    instances = list(
        await session.scalars(select(col(Instance.number)).order_by(col(Instance.number)))
    )
    leases = {lease.instance: lease for lease in await session.scalars(select(InstanceLease))}
    return ClusterState(now, processes, instances, leases)


def cluster_view(state: ClusterState, this_process: str | None) -> dict[str, Any]:
    """The answer of GET /admin/cluster (and `tgw status --json`'s `cluster`)."""
    processes = [
        {
            "id": p.id,
            "role": p.role,
            "host": p.host,
            "pid": p.pid,
            "address": p.address,
            "max_sessions": p.max_sessions,
            "live": state.live(p),
            "this_process": p.id == this_process,
            "started_at": iso(p.started_at),
            "heartbeat_at": iso(p.heartbeat_at),
            "instances": state.held_by(p.id),
        }
        for p in state.processes
    ]
    known = {p.id for p in state.processes if state.live(p)}
    instances = []
    for number in state.instances:
        lease = state.leases.get(number)
        holder = state.holder(number)
        instances.append(
            {
                "number": number,
                "holder": holder,
                # A holder not in the registry: a process of an older version, or a CLI
                # command (tgw login, tgw profile) holding the session for a moment.
                "holder_registered": holder in known if holder is not None else None,
                "token": lease.token if lease is not None else None,
                "lease_expires_at": iso(lease.expires_at) if holder is not None and lease else None,
            }
        )
    live_workers = [p for p in processes if p["live"] and p["role"] in ("worker", "all")]
    return {
        "this_process": this_process,
        "live_workers": len(live_workers),
        "fair_share": state.share(),
        "unowned": [i["number"] for i in instances if i["holder"] is None],
        "processes": processes,
        "instances": instances,
    }
