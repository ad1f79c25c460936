"""What a send worker's step says about the next one: after a batch that took every message
due, the worker waits (for a wake-up, or the next message due) instead of claiming again to
find nothing; when more may be due, it goes on at once. Driven step by step with the test
clock, against the sandbox backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.engine import Connection

from app.cluster.ownership import make_worker
from app.services import Services
from outbound.claims import CLAIM_LEASE
from outbound.worker import SendWorker
from tests.conftest import ADMIN, Clock, drain, say

NUMBER = "34612345678"
OTHER = "34698765432"


async def send_text(
    http: httpx.AsyncClient, headers: dict[str, str], text: str, number: str = NUMBER
) -> None:
    response = await http.post(
        "/v3/telegram/single/text/message/1",
        json={"number": number, "message": text},
        headers=headers,
    )
    assert response.status_code == 200, response.text


async def sent_texts(services: Services, number: str = NUMBER) -> list[str]:
    rows = await services.telegram.sandboxes[1].sent_log(number)
    return [r["text"] for r in rows if r["text"] and r["text"].startswith("m")]


def count_claims(worker: SendWorker) -> list[int]:
    """How many claims (transactions that look for due messages) the worker has made."""
    made = [0]
    claim: Callable[[Connection, datetime], Any] = worker.claims.claim

    def counted(conn: Connection, now: datetime) -> Any:
        made[0] += 1
        return claim(conn, now)

    worker.claims.claim = counted  # type: ignore[method-assign]
    return made


async def test_a_batch_that_took_every_due_message_is_not_followed_by_an_empty_claim(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    worker = make_worker(services, 1)
    await say(http, NUMBER, "Hi")
    await drain(worker)
    claims = count_claims(worker)
    await send_text(http, api_client, "m1")
    await send_text(http, api_client, "m2")
    wait_s = await worker.step()
    assert await sent_texts(services) == ["m1", "m2"]
    # Nothing else is queued: the worker waits for a wake-up (at most its poll cap).
    assert wait_s > 0
    assert claims == [1]
    await send_text(http, api_client, "m3")
    assert await worker.step() > 0
    assert await sent_texts(services) == ["m1", "m2", "m3"]
    assert claims == [2]


async def test_a_step_that_could_not_take_every_due_message_goes_on_at_once(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services
) -> None:
    # One message a batch, and a claim looks at four candidates: six due are more than that.
    worker = make_worker(services, 1, batch_size=1)
    await say(http, NUMBER, "Hi")
    await drain(worker)
    for n in range(6):
        await send_text(http, api_client, f"m{n}")
    assert await worker.step() == 0
    assert await sent_texts(services) == ["m0"]
    await drain(worker)
    assert await sent_texts(services) == [f"m{n}" for n in range(6)]


async def test_after_a_batch_the_worker_waits_only_until_a_retry_elsewhere_is_due(
    http: httpx.AsyncClient, api_client: dict[str, str], services: Services, clock: Clock
) -> None:
    """A message waiting for its retry is not in the batch, but the wait after the batch ends
    when it is due (not when the batch's claims would run out)."""
    worker = make_worker(services, 1)
    await say(http, NUMBER, "Hi")
    await say(http, OTHER, "Hi")
    await drain(worker)
    response = await http.post(
        "/admin/sandbox/1/faults", json={"error": "transient"}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    await send_text(http, api_client, "m-retry")
    assert await worker.step() == 0  # the send failed: it goes again later
    retry_in = await worker.step()  # nothing due now: the time until the retry
    assert 0 < retry_in < CLAIM_LEASE.total_seconds()
    clock.advance(retry_in / 2)
    await send_text(http, api_client, "m-other", OTHER)
    wait_s = await worker.step()
    assert await sent_texts(services, OTHER) == ["m-other"]
    assert wait_s <= retry_in / 2 + 0.001
    clock.advance(wait_s)
    await drain(worker)
    assert await sent_texts(services) == ["m-retry"]
