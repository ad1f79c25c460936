"""Instance rows: creation from the config and status changes with their events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.alerts.instances import on_status_change
from app.events import append_event
from app.models import Instance, Message
from app.settings import Settings
from app.timestamps import iso_or_none
from app.vocabulary import EventType, InstanceStatus, values

STATUSES = values(InstanceStatus)


async def set_instance_status(
    session: AsyncSession,
    inst: Instance,
    status: str,
    detail: str | None,
    now: datetime,
    *,
    wait_s: int | None = None,
) -> bool:
    """Change the status and log `instance.status` in the same transaction; False if unchanged.

    `status` is one of `InstanceStatus` (a member or its string: callers pass stored ones too).
    """
    if status not in STATUSES:
        raise ValueError(f"unknown instance status {status}")
    if inst.status == status and inst.status_detail == detail:
        return False
    previous = inst.status
    if status != previous or inst.status_since is None:
        inst.status_since = now
    inst.status = status
    inst.status_detail = detail
    inst.updated_at = now
    data: dict[str, object] = {
        "instance": inst.number,
        "status": status,
        "previous_status": previous,
        "detail": detail,
        "since": iso_or_none(inst.status_since),
    }
    if wait_s is not None:
        data["flood_wait_s"] = wait_s
        data["paused_until"] = iso_or_none(inst.paused_until)
    await append_event(
        session,
        EventType.INSTANCE_STATUS,
        now=now,
        instance=inst.number,
        gateway_number=inst.phone,
        data=data,
    )
    await on_status_change(
        session,
        instance=inst.number,
        previous=previous,
        status=status,
        detail=detail,
        now=now,
        wait_s=wait_s,
    )
    return True


async def sync_instances(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """Create a row for each configured instance; keep the backend column current."""
    for conf in settings.instances:
        inst = await session.get(Instance, conf.number)
        if inst is None:
            session.add(
                Instance(
                    number=conf.number,
                    backend=conf.backend,
                    status=InstanceStatus.LOGGED_OUT,
                    updated_at=now,
                )
            )
        elif inst.backend != conf.backend:
            inst.backend = conf.backend
            inst.updated_at = now


async def list_instances(session: AsyncSession) -> list[Instance]:
    """Every instance row, by number."""
    return list(await session.scalars(select(Instance).order_by(col(Instance.number))))


async def queue_counts(session: AsyncSession, number: int) -> dict[str, int]:
    """The instance's messages by status; a status with none is left out."""
    rows = await session.execute(
        select(col(Message.status), func.count())
        # Messages only: edits, deletions and reactions are rows of the queue too.
        .where(col(Message.instance) == number, col(Message.target_id).is_(None))
        .group_by(col(Message.status))
    )
    return {status: int(count) for status, count in rows.all()}
