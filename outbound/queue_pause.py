"""Pausing and resuming an instance's send queue (admin API and `tgw queue pause|resume`).

The pause is kept on the instance row (`queue_paused_at`), so it holds across restarts and for
every process that sends for the instance: the send worker claims nothing of a paused instance
(outbound/claims.py). Pausing twice keeps the first time; resuming a running queue changes
nothing.
"""

from __future__ import annotations

from datetime import datetime

from app.db import Database
from app.errors import ApiError
from app.models import Instance


async def set_queue_paused(
    database: Database, number: int, paused: bool, now: datetime
) -> Instance:
    """Pause (or resume) instance `number`'s queue; its row as it is afterwards."""
    async with database.write() as session:
        inst = await session.get(Instance, number)
        if inst is None:
            raise ApiError("unknown_instance", f"No such instance {number}")
        if paused and inst.queue_paused_at is None:
            inst.queue_paused_at = now
        elif not paused:
            inst.queue_paused_at = None
    return inst
