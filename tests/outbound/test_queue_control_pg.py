"""Cancel against the send worker's claim with PostgreSQL as the second actor: two real
connections, the claim's transaction held open while the cancel runs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.services import Services
from tests.outbound.test_queue_control import queued, registered, texts_sent
from tests.waiting import eventually

_BLOCKED_BY = text(
    "SELECT count(*) FROM pg_stat_activity WHERE :claimer = ANY(pg_blocking_pids(pid))"
)


async def test_a_cancel_waits_for_an_open_claim_and_is_refused_once_it_commits(
    services: Services, http: httpx.AsyncClient, api_client: dict[str, str], worker: Any
) -> None:
    engine = services.database.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks between two connections: the PostgreSQL test")
    await registered(http, worker)
    message_id = await queued(http, api_client)

    async with engine.connect() as claimer, engine.connect() as observer:
        claimer_pid = (await claimer.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await claimer.rollback()  # the pid's read is no part of the claim
        claim = await claimer.begin()
        # The worker's own claim, in a transaction this test keeps open.
        claimed, _ = await claimer.run_sync(worker.claims.claim, services.clock())
        assert [c.id for c in claimed] == [message_id]

        cancelling = asyncio.create_task(
            http.post(f"/api/v1/messages/{message_id}/cancel", headers=api_client)
        )

        async def cancel_is_blocked() -> bool:
            count = (await observer.execute(_BLOCKED_BY, {"claimer": claimer_pid})).scalar_one()
            await observer.rollback()  # a fresh snapshot on every look
            return bool(count) and not cancelling.done()

        # The cancel's conditional UPDATE waits on the claimed row's lock: it cannot decide
        # while the claim is undecided.
        await eventually(cancel_is_blocked, "the cancel to wait on the claim's row lock")
        await claim.commit()

    response = await cancelling
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_cancellable")
    assert "is sending" in response.json()["error"]["message"]
    shown = (await http.get(f"/api/v1/messages/{message_id}", headers=api_client)).json()
    assert (shown["status"], shown["error_code"]) == ("sending", None)
    assert await texts_sent(http) == []  # claimed, not yet sent by this test's stand-in
