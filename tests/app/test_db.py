from __future__ import annotations

from typing import Any

import httpx

from app.services import Services
from tests.conftest import say


async def test_background_checkpoint_copies_the_wal_into_the_database(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    await say(http, "34612345678", "Hi")
    for i in range(20):
        response = await http.post(
            "/v3/telegram/single/text/message/1",
            json={"number": "34612345678", "message": f"m{i}"},
            headers=api_client,
        )
        assert response.status_code == 200
    result: Any = await services.database.background_sql.checkpoint()
    if services.database.engine.dialect.name != "sqlite":
        assert result is None  # PostgreSQL manages its own log
        return
    busy, wal_frames, copied = result
    assert busy == 0
    assert wal_frames > 0 and copied == wal_frames  # commits left the WAL to this checkpoint


async def test_write_lock_hands_the_turn_to_urgent_writers_first_then_in_order() -> None:
    import asyncio

    from app.db import WriteLock

    lock = WriteLock()
    order: list[str] = []
    await lock.acquire()

    async def writer(name: str, urgent: bool) -> None:
        async with lock.hold(urgent):
            order.append(name)

    tasks = [
        asyncio.create_task(writer("worker-1", False)),
        asyncio.create_task(writer("worker-2", False)),
        asyncio.create_task(writer("api", True)),
    ]
    await asyncio.sleep(0)  # all three are waiting now
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["api", "worker-1", "worker-2"]


async def test_write_lock_survives_a_waiter_that_gives_up() -> None:
    import asyncio

    from app.db import WriteLock

    lock = WriteLock()
    await lock.acquire()
    quitter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    quitter.cancel()
    await asyncio.gather(quitter, return_exceptions=True)
    lock.release()
    async with asyncio.timeout(1):
        async with lock.hold():  # would hang if the cancelled waiter kept the turn
            pass
